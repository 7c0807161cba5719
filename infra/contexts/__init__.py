"""The registry of contexts the composition root builds, in order (a context may use what the
ones before it registered). Adding a context: its own module with `build(shared)`, one line here."""

from __future__ import annotations

from infra.contexts import (
    catalog,
    connectors,
    gc,
    identity,
    imports,
    mail,
    organizations,
    sandbox_credentials,
    sandboxes,
    secrets,
    triggers,
)
from infra.contexts.base import Context, ContextParts, Shared, Worker

CONTEXTS: list[Context] = [
    identity.build,
    organizations.build,
    catalog.build,
    secrets.build,
    connectors.build,
    mail.build,
    gc.build,
    triggers.build,
    imports.build,
    sandboxes.build,
    sandbox_credentials.build,
]

__all__ = ["CONTEXTS", "Context", "ContextParts", "Shared", "Worker"]
