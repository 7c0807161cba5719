"""Deterministic identifiers: uuid5 keys for index aggregates and derived ids."""

from __future__ import annotations

from uuid import UUID, uuid5

# Fixed namespace for every deterministic id of tilde-server; never change it.
TILDE_NAMESPACE = UUID("6f1d1c1e-4b0e-5d0a-9a51-7e3d3c7a9b10")


def index_id(kind: str, key: str) -> UUID:
    """Id of the index aggregate that reserves `key` within `kind` (e.g. usernames)."""
    return uuid5(TILDE_NAMESPACE, f"{kind}:{key}")


def derived_id(*parts: object) -> UUID:
    """A stable id derived from other ids (e.g. one outbox message per event and kind)."""
    return uuid5(TILDE_NAMESPACE, "/".join(str(p) for p in parts))


def parse_uuid(value: str) -> UUID | None:
    """The UUID in `value`, or None when it is not one."""
    try:
        return UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None
