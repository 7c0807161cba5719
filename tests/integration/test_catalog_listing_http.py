"""Listing regressions (catalog issue #10): a page that ended early when a key ended with
the delimiter, and a 500 on a session listing behind a long run of staged deletes.

Each listing is checked at the head, at an older commit (`ref=`) and in a session
(`session_id=`), against S3's ListObjectsV2 rule; on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

from infra.bootstrap import Container
from tests.catalog_helpers import Repo
from tests.catalog_listing import Seeder, page, pages, s3_listing


def _three_views(container: Container, repo: Repo, keys: list[str]) -> list[dict[str, str]]:
    """`keys` committed, then visible at the head, at that commit after a later one, and
    in an open session (whose staged keys live elsewhere): the query parameters of each."""
    seeder = Seeder.of(container, repo)
    first = seeder.write(keys)
    seeder.write(["zzz/later"])
    sid = seeder.session()
    seeder.stage(sid, ["zzz/staged"], deletes=["zzz/later"])
    return [{}, {"ref": first}, {"session_id": sid}]


def test_a_key_ending_with_the_delimiter_does_not_end_the_listing(
    container: Container, repo: Repo
) -> None:
    keys = ["foo-", "foo-bar", "foo-bar-qux", "foo-baz"]
    expected = [
        ("foo-", "object"),
        ("foo-bar", "object"),
        ("foo-bar-", "prefix"),
        ("foo-baz", "object"),
    ]
    assert s3_listing(keys, "foo-", "-") == expected
    for where in _three_views(container, repo, keys):
        first, pagination = page(repo, prefix="foo-", delimiter="-", amount=1, **where)
        assert first == [("foo-", "object")]
        assert pagination["has_more"] and pagination["next_offset"] == "foo-"
        second, _ = page(repo, prefix="foo-", delimiter="-", amount=1, after="foo-", **where)
        assert second == [("foo-bar", "object")], where
        for amount in (1, 2, 3, 4, 1000):
            listed = pages(repo, prefix="foo-", delimiter="-", amount=amount, **where)
            assert listed == expected, (where, amount)


def test_a_multi_character_delimiter_across_the_prefix_boundary(
    container: Container, repo: Repo
) -> None:
    # Prefix `xa`, delimiter `ab`: in `xab…` the `ab` starts inside the prefix, so it is
    # no delimiter; `xab` is an object, not a folder to skip.
    keys = ["xa", "xab", "xabab", "xababc", "xabc", "xabzab1", "xay", "xb"]
    expected = s3_listing(keys, "xa", "ab")
    assert ("xab", "object") in expected and ("xabab", "prefix") in expected
    for where in _three_views(container, repo, keys):
        for amount in (1, 2, 3, 1000):
            assert pages(repo, prefix="xa", delimiter="ab", amount=amount, **where) == expected
        rest, _ = page(repo, prefix="xa", delimiter="ab", after="xab", amount=1000, **where)
        assert rest == s3_listing(keys, "xa", "ab", after="xab"), where


def test_after_equal_to_the_prefix_or_a_parent_folder_lists_everything(
    container: Container, repo: Repo
) -> None:
    keys = ["a/", *(f"a/f{i:02d}" for i in range(40)), "a/sub/x", "b"]
    keys.remove("a/")  # "a/" is no valid object path; the folder exists through its keys
    for where in _three_views(container, repo, keys):
        for prefix, after in (("a/", "a/"), ("a/s", "a/"), ("a/sub/", "a/")):
            listed, pagination = page(
                repo, prefix=prefix, delimiter="/", after=after, amount=1000, **where
            )
            assert listed == s3_listing(keys, prefix, "/", after), (prefix, after, where)
            assert not pagination["has_more"]
        everything, _ = page(repo, prefix="a/", delimiter="/", after="a/", amount=1000, **where)
        assert len(everything) == 41  # 40 objects and the `a/sub/` prefix, as S3 answers


def _session_behind_deletes(
    container: Container, repo: Repo, committed: int, deleted: int
) -> tuple[str, list[str]]:
    seeder = Seeder.of(container, repo)
    keys = [f"k{i:05d}" for i in range(committed)]
    seeder.write(keys)
    sid = seeder.session()
    seeder.stage(sid, deletes=keys[:deleted])
    return sid, keys[deleted:]


def test_a_session_listing_after_the_issues_run_of_staged_deletes(
    container: Container, repo: Repo
) -> None:
    sid, left = _session_behind_deletes(container, repo, 2600, 2550)
    first, pagination = page(repo, session_id=sid, amount=1)
    assert first == [(left[0], "object")] and pagination["has_more"]
    assert [p for p, _ in pages(repo, session_id=sid, amount=1)] == left
    assert [p for p, _ in pages(repo, session_id=sid, amount=7, delimiter="/")] == left


def test_a_session_listing_behind_100000_staged_deletes(container: Container, repo: Repo) -> None:
    sid, left = _session_behind_deletes(container, repo, 100_050, 100_000)
    listed: Any = pages(repo, session_id=sid, amount=1)
    assert [p for p, _ in listed] == left
    # `k1000` covers k10000…k10009 (deleted) and k100000… (kept), in that order.
    tail, pagination = page(repo, session_id=sid, amount=1, prefix="k1000")
    assert tail == [(left[0], "object")] and pagination["has_more"]
