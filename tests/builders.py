"""Test data builders and random names."""

from __future__ import annotations

import secrets
from typing import Any

PASSWORD = "correct-horse-battery"


def name(prefix: str = "u") -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def signup_body(username: str | None = None, **overrides: Any) -> dict[str, Any]:
    username = username or name()
    body = {
        "username": username,
        "email": f"{username}@example.com",
        "full_name": f"User {username}",
        "password": PASSWORD,
    }
    body.update(overrides)
    return body
