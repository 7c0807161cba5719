"""The rules of an import request and of where a source key lands (no services)."""

from __future__ import annotations

import pytest

from domain.imports.job import MAX_ATTEMPTS, ImportJob
from domain.imports.request import check_request, relative_key
from domain.shared.errors import Conflict, Invalid
from domain.shared.values import Actor

USER = Actor("user", "u-1")


def request(**fields: object) -> dict[str, object]:
    base: dict[str, object] = dict.fromkeys(
        ("connector_id", "source_organization", "source_repository", "source_prefix",
         "commit_message")
    )  # fmt: skip
    return {**base, "destination_path": "in", **fields}


def test_the_destination_is_normalized_as_a_directory() -> None:
    checked = check_request(**request(source_organization="o", source_repository="r"))
    assert checked.destination_path == "in/" and checked.from_repository
    nested = check_request(**request(connector_id="6F1C1F8E-2F5B-4A57-9D7E-5B0F0C7A9A11",
                                     destination_path="a/b/"))  # fmt: skip
    assert nested.destination_path == "a/b/"
    assert nested.connector_id == "6f1c1f8e-2f5b-4a57-9d7e-5b0f0c7a9a11"


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"source_organization": "o"},
        {"connector_id": "x", "source_organization": "o", "source_repository": "r"},
        {"source_organization": "o", "source_repository": "r", "destination_path": ""},
        {"source_organization": "o", "source_repository": "r", "destination_path": "a//b"},
        {"source_organization": "o", "source_repository": "r", "source_prefix": "/abs"},
        {"source_organization": "o", "source_repository": "r", "commit_message": 5},
    ],
)
def test_requests_without_exactly_one_source_or_a_usable_destination_are_refused(
    fields: dict[str, object],
) -> None:
    with pytest.raises(Invalid):
        check_request(**request(**fields))


def test_a_key_lands_without_the_listed_prefixs_directory() -> None:
    assert relative_key("base/data/a.csv", "base/data/") == "a.csv"
    assert relative_key("base/data/train/a.csv", "base/data/tr") == "train/a.csv"
    assert relative_key("a/b.txt", "") == "a/b.txt"


def job() -> ImportJob:
    checked = check_request(**request(source_organization="o", source_repository="r"))
    return ImportJob.request(
        job_id=None, organization_id="org", repository_id="repo", repository="r",
        request=checked, source_organization_id="org", source_repository_id="src",
        committer_name="u", actor=USER,
    )  # fmt: skip


def test_a_checkpoint_only_moves_forward_and_counts_objects() -> None:
    j = job()
    j.start("session", 3, USER)
    j.progress("a/9", 10, USER)
    j.progress("b/1", 5, USER)
    assert (j.checkpoint, j.objects_imported, j.status) == ("b/1", 15, "running")
    with pytest.raises(Conflict):
        j.progress("a/9", 1, USER)


def test_unexpected_errors_fail_the_job_after_the_last_attempt() -> None:
    j = job()
    verdicts = [j.attempt_failed(f"boom {n}", USER) for n in range(MAX_ATTEMPTS)]
    assert verdicts == [True] * (MAX_ATTEMPTS - 1) + [False]
    assert (j.status, j.error) == ("failed", f"boom {MAX_ATTEMPTS - 1}")
    with pytest.raises(Conflict):
        j.complete("c", USER)
