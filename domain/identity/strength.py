"""A small password-strength estimate (0-4) in the spirit of zxcvbn, without its dictionaries."""

from __future__ import annotations

import math
import re

COMMON = frozenset(
    [
        "password",
        "passw0rd",
        "password1",
        "123456",
        "12345678",
        "123456789",
        "1234567890",
        "qwerty",
        "qwertyuiop",
        "abc123",
        "letmein",
        "welcome",
        "monkey",
        "dragon",
        "iloveyou",
        "admin",
        "administrator",
        "trustno1",
        "football",
        "baseball",
        "sunshine",
        "princess",
        "starwars",
        "whatever",
        "shadow",
        "master",
        "superman",
        "michael",
        "login",
        "changeme",
        "secret",
        "tilde",
    ]
)
MIN_SCORE = 2


def _pool(password: str) -> int:
    pool = 0
    if re.search(r"[a-z]", password):
        pool += 26
    if re.search(r"[A-Z]", password):
        pool += 26
    if re.search(r"[0-9]", password):
        pool += 10
    if re.search(r"[^A-Za-z0-9]", password):
        pool += 33
    return max(pool, 1)


def password_strength(
    password: str, user_inputs: list[str] | None = None
) -> tuple[int, str, list[str]]:
    """(score 0-4, warning, suggestions); scores below 2 are rejected by signup."""
    lowered = password.lower()
    suggestions: list[str] = []
    if lowered in COMMON or lowered.rstrip("0123456789!") in COMMON:
        return 0, "This is a very common password.", ["Use a few unrelated words together."]
    for value in user_inputs or []:
        if value and len(value) >= 3 and value.lower() in lowered:
            return (
                1,
                "Avoid your name, username or email in the password.",
                ["Use words that are not about you."],
            )
    if re.fullmatch(r"(.)\1*", password) or re.fullmatch(r"(?:0123456789|abcdefghij)+", lowered):
        return 0, "Repeats and sequences are easy to guess.", ["Avoid repeated characters."]
    distinct = len(set(password))
    bits = (
        len(password) * math.log2(_pool(password)) * min(1.0, distinct / max(4, len(password) / 2))
    )
    score = 0 if bits < 28 else 1 if bits < 36 else 2 if bits < 50 else 3 if bits < 64 else 4
    if len(password) < 12:
        suggestions.append("Longer passwords are stronger: aim for 12 or more characters.")
    if _pool(password) < 40:
        suggestions.append("Mix letters with digits or symbols.")
    warning = "" if score >= MIN_SCORE else "This password is too easy to guess."
    return score, warning, suggestions
