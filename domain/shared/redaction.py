"""The one rule for what audit output never shows of an event (CLI replay, HTTP view, events)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.shared.values import stamp

REDACTED = "[redacted]"

# Stream bookkeeping every event carries; the audit row has its own columns for these.
BOOKKEEPING = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "originator_topic",
        "organization_id",
        "actor_type",
        "actor_id",
    }
)

# Field names that are never shown, whichever event carries them: credentials at rest
# (hashes, ciphertexts), secret values and connector configurations (they hold credentials).
NEVER_SHOWN = frozenset(
    {
        "password_hash",
        "secret_hash",
        "token_hash",
        "code_hash",
        "ciphertext",
        "encrypted_value",
        "secret_value",
        "value",
        "config",
        "credentials",
        "private_key",
        "wrapped",
        "wrapped_keys",
    }
)

# Generic names that are secret only in one event: the emailed reset token embeds `request_id`,
# the device login's `user_code` lets whoever types it in first bind the device.
NEVER_SHOWN_IN: Mapping[str, frozenset[str]] = {
    "User.PasswordResetRequested": frozenset({"request_id"}),
    "User.PasswordReset": frozenset({"request_id"}),
    "DeviceAuthorization.Requested": frozenset({"user_code"}),
    # A trigger's env_vars may hold credentials a job needs.
    "Trigger.Created": frozenset({"sandbox_config"}),
    "Trigger.Updated": frozenset({"sandbox_config"}),
    # A sandbox request's env values may be credentials the caller passed in.
    "Sandbox.Requested": frozenset({"env_vars"}),
    # A connector's config, as the cipher's token.
    "Connector.Created": frozenset({"config_token"}),
}

# Names that look secret but are not: a key's public hint, ids of keys and index keys.
SHOWN = frozenset({"token_hint", "key_id", "key", "data_key_id", "exit_code"})

# What "looks secret": a field so named must be listed above (a unit test walks every event).
SECRET_LIKE = re.compile(
    r"hash|secret|passw|token|cipher|credential|private|config|code|salt|nonce|signature"
    r"|plaintext|value|(^|_)key($|_)",
    re.IGNORECASE,
)


def is_hidden(event_type: str, name: str) -> bool:
    """Whether `name` of an `event_type` (e.g. `User.SignedUp`) is never shown."""
    if name in NEVER_SHOWN or name in NEVER_SHOWN_IN.get(event_type, ()):
        return True
    # Fail closed: an unlisted secret-looking name is hidden until someone classifies it.
    return name not in SHOWN and bool(SECRET_LIKE.search(name))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return stamp(value)
    if isinstance(value, Mapping):
        # Nested maps (settings, metadata) follow the same name rule, so a credential cannot
        # hide one level down.
        return {k: REDACTED if is_hidden("", str(k)) else _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def redact(event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` (an event's fields) with every hidden value replaced, JSON-ready."""
    return {k: REDACTED if is_hidden(event_type, k) else _plain(v) for k, v in data.items()}


def event_type_of(event: Any) -> str:
    """`Aggregate.Event` for an event object."""
    return type(event).__qualname__


def event_data(event: Any, *, keep: frozenset[str] = frozenset()) -> dict[str, Any]:
    """An event's own fields (bookkeeping dropped except `keep`), redacted and JSON-ready."""
    fields = {k: v for k, v in vars(event).items() if k not in BOOKKEEPING or k in keep}
    return redact(event_type_of(event), fields)
