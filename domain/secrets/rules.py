"""What a secret's key and value may be (checked before anything is encrypted or recorded)."""

from __future__ import annotations

import re

from domain.shared.errors import Invalid

KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,255}")
MAX_VALUE_BYTES = 64 * 1024
REPOSITORY = "repository"
AGENT = "agent"
SCOPES = (REPOSITORY, AGENT)


def check_key(key: str) -> str:
    """`key` if it is a valid secret key (an environment variable name), else Invalid."""
    if not isinstance(key, str) or KEY.fullmatch(key) is None:
        shown = key[:64] if isinstance(key, str) else type(key).__name__
        raise Invalid(
            f"invalid secret key '{shown}': it must match ^[A-Za-z_][A-Za-z0-9_-]{{0,255}}$"
        )
    return key


def check_value(value: object) -> bytes:
    """The UTF-8 bytes of a valid secret value. The message never quotes the value."""
    if not isinstance(value, str):
        raise Invalid("value: a secret value must be a string")
    if value == "":
        raise Invalid("value: a secret value must not be empty")
    if "\x00" in value:
        raise Invalid("value: NUL characters are not allowed in a secret value")
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("value: a secret value must be valid UTF-8 text") from None
    if len(data) > MAX_VALUE_BYTES:
        raise Invalid(
            f"value: a secret value may hold at most {MAX_VALUE_BYTES} bytes of UTF-8 "
            f"(this one holds {len(data)})"
        )
    return data


def associated_data(scope: str, scope_id: str, key: str) -> bytes:
    """What a secret's ciphertext is bound to (with its organization): moved to another key,
    repository or agent, it no longer decrypts."""
    return f"secret\0{scope}\0{scope_id}\0{key}".encode()
