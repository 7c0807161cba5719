"""The secrets context: repository and agent secrets, the envelope cipher other contexts
encrypt with (`CIPHER_SERVICE`), and a sandbox's environment (`ENVIRONMENT_SERVICE`)."""

from __future__ import annotations

import structlog

from application.secrets.app import SecretsApplication
from application.secrets.environment import SecretsEnvironment
from application.secrets.ports import CIPHER_SERVICE, ENVIRONMENT_SERVICE
from infra.contexts.base import ContextParts, Shared
from infra.secrets.cipher import EnvelopeCipher
from infra.secrets.keys import KeyEncryptionKeys, KeySource
from projections.secrets.secrets import SecretsView, secret_keys

log = structlog.get_logger("tilde.secrets")


def key_source(shared: Shared) -> KeySource:
    settings = shared.settings
    if settings.is_postgres and not settings.secrets_key and settings.role != "cli":
        # Processes on other machines would each generate their own key and could not
        # unwrap each other's data keys.
        log.warning(
            "secrets_key_from_data_dir",
            detail="TILDE_SECRETS_KEY is not set: using <data dir>/secrets.key; every process "
            "of a PostgreSQL deployment must share one key (set TILDE_SECRETS_KEY)",
        )
    return KeySource(settings.secrets_key, settings.secrets_previous_keys, settings.data_dir)


def build(shared: Shared) -> ContextParts:
    secrets = SecretsApplication(
        shared.env("secrets"),
        factory=shared.factory,
        clock=shared.clock,
        observers=[shared.saved],
    )
    cipher = EnvelopeCipher(secrets, KeyEncryptionKeys(key_source(shared)))
    secrets.cipher = cipher
    db = shared.db
    environment = SecretsEnvironment(
        secrets, lambda org_id, scope, scope_id: secret_keys(db, org_id, scope, scope_id)
    )
    return ContextParts(
        applications=[secrets],
        views=[SecretsView()],
        services={
            "secrets": secrets,
            CIPHER_SERVICE: cipher,
            ENVIRONMENT_SERVICE: environment,
        },
    )
