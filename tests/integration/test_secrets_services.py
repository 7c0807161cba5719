"""The services other contexts use, through the composition root on SQLite and PostgreSQL:
the envelope cipher (`CIPHER_SERVICE`) and a sandbox's environment (`ENVIRONMENT_SERVICE`)."""

from __future__ import annotations

import pytest

from application.principal import Principal
from application.secrets.app import SecretsApplication
from application.secrets.ports import (
    CIPHER_SERVICE,
    ENVIRONMENT_SERVICE,
    SandboxEnvironment,
    SecretCipher,
)
from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from tests.conftest import FAST_HASHER

ALICE = Principal(type="user", id="alice-id", name="alice", via="bearer")


def test_the_cipher_is_registered_and_survives_a_restart(backend: Settings) -> None:
    container = bootstrap(backend, hasher=FAST_HASHER)
    try:
        cipher = container.services[CIPHER_SERVICE]
        token = cipher.encrypt("org-1", b"connector-config", b"connector\0c1")
        typed: SecretCipher = cipher
        assert typed.decrypt("org-1", token, b"connector\0c1") == b"connector-config"
    finally:
        container.close()
    again = bootstrap(backend, hasher=FAST_HASHER)
    try:
        cipher = again.services[CIPHER_SERVICE]
        assert cipher.decrypt("org-1", token, b"connector\0c1") == b"connector-config"
        with pytest.raises(ValueError):
            cipher.decrypt("org-1", token, b"connector\0c2")
    finally:
        again.close()


def _put(container: Container, scope: str, scope_id: str, values: dict[str, str]) -> None:
    secrets = container.service("secrets", SecretsApplication)
    container.start_background()  # the projectors keep the metadata view current
    for key, value in values.items():
        assert container.wait_for(
            secrets.put_secret("org-1", scope, scope_id, key, value, ALICE).written
        )


def test_the_environment_follows_the_precedence_and_forgets_deleted_keys(
    container: Container,
) -> None:
    environment: SandboxEnvironment = container.services[ENVIRONMENT_SERVICE]
    _put(container, "repository", "repo-1", {"API_KEY": "repo-key", "DB_HOST": "prod"})
    _put(container, "agent", "agent-1", {"API_KEY": "agent-key", "OPENAI_KEY": "sk-abc"})
    _put(container, "repository", "repo-2", {"OTHER": "x"})
    request = {"DB_HOST": "staging.db.example.com"}
    assert environment.environment_for("org-1", "repo-1", request, "agent-1") == {
        "DB_HOST": "staging.db.example.com",
        "API_KEY": "agent-key",
        "OPENAI_KEY": "sk-abc",
    }
    assert environment.environment_for("org-1", "repo-1", {}, None) == {
        "API_KEY": "repo-key",
        "DB_HOST": "prod",
    }
    assert environment.environment_for("org-2", "repo-1", {}, None) == {}
    secrets = container.service("secrets", SecretsApplication)
    container.wait_for(secrets.delete_secret("org-1", "agent", "agent-1", "API_KEY", ALICE).written)
    assert environment.environment_for("org-1", "repo-1", {}, "agent-1") == {
        "API_KEY": "repo-key",
        "DB_HOST": "prod",
        "OPENAI_KEY": "sk-abc",
    }
