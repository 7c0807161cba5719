"""Naming rules for organizations, roles, agents, groups and policies."""

from __future__ import annotations

import re

from domain.shared.errors import Invalid
from domain.shared.ids import parse_uuid

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
# Names that would pass for the service itself (or one of its URLs) in a link or an email.
_RESERVED = """
    about abuse account accounts admin administrator anonymous api assets auth billing blob
    blobs console dashboard docs health help hostmaster info login logout mail me metrics new
    no-reply noreply null openapi operator organizations postmaster privacy register root
    security settings signin signup staff static status support sysadmin system terms tilde
    undefined webmaster www
    """
RESERVED_ORG_NAMES = frozenset(_RESERVED.split())
DISPLAY_MAX = 200
DESCRIPTION_MAX = 2000


def slug_problem(name: object) -> str:
    """'' when `name` is a usable organization name, else 'invalid' or 'reserved'."""
    if not isinstance(name, str) or not SLUG_RE.match(name):
        return "invalid"
    if name in RESERVED_ORG_NAMES or parse_uuid(name) is not None:
        return "reserved"  # a name that reads as an id would make lookups ambiguous
    return ""


def check_org_name(name: object) -> str:
    problem = slug_problem(name)
    if problem == "invalid":
        raise Invalid(
            "name must match ^[a-z0-9][a-z0-9-]{1,62}$ (lowercase letters, digits "
            "and '-', 2-63 characters)"
        )
    if problem == "reserved":
        why = " (it reads as an id)" if parse_uuid(str(name)) is not None else ""
        raise Invalid(f"organization name '{name}' is reserved{why}")
    assert isinstance(name, str)
    return name


def check_slug(name: object, what: str) -> str:
    """Role and agent names: the same pattern as organization names."""
    if not isinstance(name, str) or not SLUG_RE.match(name):
        raise Invalid(f"{what} name must match ^[a-z0-9][a-z0-9-]{{1,62}}$")
    return name


def check_label(name: object, what: str) -> str:
    """Group and policy names: 1-100 printable characters."""
    if not isinstance(name, str) or not name.strip():
        raise Invalid(f"{what} name is required")
    name = name.strip()
    if len(name) > 100 or any(ord(c) < 32 for c in name):
        raise Invalid(f"{what} name must be 1-100 printable characters")
    return name


def check_text(value: object, field: str, limit: int = DESCRIPTION_MAX) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string")
    if len(value) > limit:
        raise Invalid(f"{field} must be at most {limit} characters")
    return value
