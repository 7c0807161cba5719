"""Object path and repository name rules."""

from __future__ import annotations

import re
import unicodedata

from domain.shared.errors import Invalid

MAX_PATH_BYTES = 1024
# The top code point bounds prefix ranges (`path < prefix + TOP`), so it may not appear.
TOP = "\U0010ffff"
REPO_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
# Controls and surrogates can never be stored. Format characters (Cf: bidirectional overrides
# and isolates U+202A-U+202E/U+2066-U+2069, zero-width U+200B-U+200F, BOM) and line/paragraph
# separators are invisible, so they make look-alike names ("invoice\u202efdp.exe"): a *new*
# name may not contain them, but objects stored before that rule stay readable and deletable.
_NEVER = frozenset({"Cc", "Cs"})
_NOT_IN_NEW_NAMES = frozenset({"Cf", "Zl", "Zp"})


def check_path(value: object, field: str = "path", *, new: bool = False) -> str:
    """A valid object path, or `Invalid` saying what is wrong with it. `new` applies the
    rules for naming an object (writes); reads and deletes accept any name once stored."""
    if not isinstance(value, str) or value == "":
        raise Invalid(f"{field} is required")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise Invalid(f"{field} must be at most {MAX_PATH_BYTES} bytes")
    if value.startswith("/"):
        raise Invalid(f"{field} must not start with '/'")
    refused = _NEVER | _NOT_IN_NEW_NAMES if new else _NEVER
    # Printable ASCII (the usual name) holds none of those categories: no per-character walk.
    plain = value.isascii() and value.isprintable()
    if not plain and any(unicodedata.category(ch) in refused or ch == TOP for ch in value):
        raise Invalid(
            f"{field} must not contain control, invisible formatting or bidirectional "
            "override characters"
        )
    for segment in value.split("/"):
        if segment == "":
            raise Invalid(f"{field} must not contain empty segments ('//' or a trailing '/')")
        if segment in (".", ".."):
            raise Invalid(f"{field} must not contain '.' or '..' segments")
    return value


def check_prefix(value: object) -> str:
    """A listing prefix: like a path, but may be empty or end with '/'."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise Invalid("prefix must be a string")
    body = value[:-1] if value.endswith("/") else value
    if body:
        check_path(body, "prefix")
    return value


def check_repository_name(value: object) -> str:
    if not isinstance(value, str) or not REPO_NAME_RE.match(value):
        raise Invalid(
            "repository name must be 1-63 characters of lowercase letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return value


def upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix`."""
    return prefix + TOP
