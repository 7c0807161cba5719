"""Pure validation rules for identity input (usernames, emails, passwords, names)."""

from __future__ import annotations

import re
import unicodedata

from domain.shared.errors import Invalid

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,38}$")
# Deliberately simple: one @, a dotted domain, no spaces or control characters.
EMAIL_RE = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
# Names that would pass for the service itself (or one of its URLs) in a link or an email.
_RESERVED = """
    about abuse account accounts admin administrator anonymous api assets auth billing
    blob blobs console dashboard docs health help hostmaster info login logout mail me metrics
    new no-reply noreply null openapi operator organizations postmaster privacy register root
    security settings signin signup staff static status support sysadmin system terms tilde
    undefined webmaster www
    """
RESERVED_USERNAMES = frozenset(_RESERVED.split())
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
TEXT_MAX = 200
BIO_MAX = 4000


def _has_control_chars(value: str, *, allow_newlines: bool = False) -> bool:
    allowed = {"\n", "\r", "\t"} if allow_newlines else set()
    return any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value)


def normalize_username(value: object) -> str:
    """A valid username (lowercase letters, digits, `_`/`-`, 2-39 chars) or `Invalid`."""
    if not isinstance(value, str) or not value:
        raise Invalid("username is required")
    if not USERNAME_RE.match(value):
        raise Invalid(
            "username must be 2-39 characters of lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    if value in RESERVED_USERNAMES:
        raise Invalid(f"username '{value}' is reserved")
    return value


def normalize_email(value: object) -> str:
    """The email, trimmed and lowercased, or `Invalid`."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid("email is required")
    email = value.strip().lower()
    if len(email) > 254 or not EMAIL_RE.match(email) or _has_control_chars(email):
        raise Invalid("email is not a valid address")
    return email


def check_password(value: object) -> str:
    """The password if it meets the length rules, else `Invalid`."""
    if not isinstance(value, str) or not value:
        raise Invalid("password is required")
    if len(value) < PASSWORD_MIN:
        raise Invalid(f"password must be at least {PASSWORD_MIN} characters")
    if len(value) > PASSWORD_MAX:
        raise Invalid(f"password must be at most {PASSWORD_MAX} characters")
    return value


def clean_text(
    value: object, field: str, *, required: bool, limit: int = TEXT_MAX, multiline: bool = False
) -> str:
    """A trimmed display string without control characters, or `Invalid`."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string")
    text = value if multiline else value.strip()
    if required and not text.strip():
        raise Invalid(f"{field} is required")
    if len(text) > limit:
        raise Invalid(f"{field} must be at most {limit} characters")
    if _has_control_chars(text, allow_newlines=multiline):
        raise Invalid(f"{field} must not contain control characters")
    return text


def looks_like_email(login: str) -> bool:
    """Whether a login string names an email rather than a username."""
    return "@" in login
