"""The secrets domain: the environment rule (the reference's worked example), key and value
rules, and the Secret aggregate's lifecycle."""

from __future__ import annotations

import pytest

from domain.secrets.environment import resolve_environment
from domain.secrets.rules import MAX_VALUE_BYTES, check_key, check_value
from domain.secrets.secret import Secret
from domain.shared.errors import Invalid, NotFound
from domain.shared.values import Actor

ALICE = Actor("user", "alice-id")
BOB = Actor("user", "bob-id")


def test_the_reference_worked_example() -> None:
    """Repository API_KEY=repo-key, DB_HOST=prod.db.example.com; agent data-pipeline
    API_KEY=agent-key, OPENAI_KEY=sk-abc; run_as the agent with env_vars
    {"DB_HOST": "staging.db.example.com"}."""
    repository = {"API_KEY": "repo-key", "DB_HOST": "prod.db.example.com"}
    agent = {"API_KEY": "agent-key", "OPENAI_KEY": "sk-abc"}
    env = resolve_environment({"DB_HOST": "staging.db.example.com"}, agent, repository)
    assert env == {
        "DB_HOST": "staging.db.example.com",
        "API_KEY": "agent-key",
        "OPENAI_KEY": "sk-abc",
    }


def test_without_an_agent_only_repository_secrets_and_the_request_apply() -> None:
    repository = {"API_KEY": "repo-key", "DB_HOST": "prod.db.example.com"}
    env = resolve_environment({"DB_HOST": "staging"}, None, repository)
    assert env == {"DB_HOST": "staging", "API_KEY": "repo-key"}


def test_a_lower_level_never_overwrites_and_inputs_are_untouched() -> None:
    request = {"A": "request"}
    agent = {"A": "agent", "B": "agent"}
    repository = {"A": "repo", "B": "repo", "C": "repo"}
    env = resolve_environment(request, agent, repository)
    assert env == {"A": "request", "B": "agent", "C": "repo"}
    assert request == {"A": "request"}
    assert resolve_environment({}, {}, {}) == {}


@pytest.mark.parametrize("key", ["A", "_", "API_KEY", "a-b_c9", "_" + "x" * 255])
def test_valid_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("key", ["", "9A", "-A", "A.B", "A B", "ü", "_" + "x" * 256, "A\n"])
def test_invalid_keys(key: str) -> None:
    with pytest.raises(Invalid, match="invalid secret key"):
        check_key(key)


def test_values_are_non_empty_utf8_at_most_64_kib_and_never_quoted() -> None:
    assert check_value("é" * (MAX_VALUE_BYTES // 2)) == "é".encode() * (MAX_VALUE_BYTES // 2)
    for bad in ("", None, 12, "x" * (MAX_VALUE_BYTES + 1), "é" * (MAX_VALUE_BYTES // 2 + 1)):
        with pytest.raises(Invalid) as err:
            check_value(bad)
        assert "xxxx" not in err.value.message and "éé" not in err.value.message
    with pytest.raises(Invalid, match="NUL"):
        check_value("a\x00b")


def test_update_keeps_the_creator_and_recreate_after_delete_starts_anew() -> None:
    secret = Secret.create(
        organization_id="org",
        scope="repository",
        scope_id="r1",
        key="K",
        ciphertext="c1",
        actor=ALICE,
    )
    created_at = secret.created_at
    secret.put("c2", BOB)
    assert (secret.created_by, secret.ciphertext, secret.created_at) == (ALICE, "c2", created_at)
    assert secret.updated_at >= created_at
    secret.delete(BOB)
    assert secret.deleted and secret.ciphertext == ""
    with pytest.raises(NotFound):
        secret.delete(BOB)
    secret.put("c3", BOB)
    assert not secret.deleted and secret.created_by == BOB and secret.ciphertext == "c3"
    assert "c3" not in repr(secret)
    kinds = [type(e).__name__ for e in secret.collect_events()]
    assert kinds == ["Created", "Updated", "Deleted", "Recreated"]
