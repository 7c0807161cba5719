"""Catalog garbage collection: expired entry versions, abandoned sessions, deleted
repositories, unreferenced blobs (one active instance per deployment)."""

from __future__ import annotations

from functools import partial

from application.catalog import CatalogApplication
from application.organizations import OrganizationsApplication
from application.trash import Trash
from infra.contexts.base import ContextParts, Shared
from infra.gc_worker import GcWorker
from projections.organizations.organizations import deleted_organizations


def build(shared: Shared) -> ContextParts:
    catalog = shared.get("catalog", CatalogApplication)
    organizations = shared.get("organizations", OrganizationsApplication)
    # Deleted organizations and repositories: restore, and purge past the retention window.
    trash = Trash(organizations, catalog, partial(deleted_organizations, shared.db))
    gc = GcWorker(trash.collect, shared.locks("gc"), shared.settings.gc_interval_seconds)
    return ContextParts(workers=[gc], services={"gc": gc, "trash": trash})
