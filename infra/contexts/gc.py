"""Catalog garbage collection: expired entry versions, abandoned sessions, deleted
repositories, unreferenced blobs (one active instance per deployment)."""

from __future__ import annotations

from application.catalog import CatalogApplication
from infra.contexts.base import ContextParts, Shared
from infra.gc_worker import GcWorker


def build(shared: Shared) -> ContextParts:
    catalog = shared.get("catalog", CatalogApplication)
    gc = GcWorker(catalog.collect, shared.locks("gc"), shared.settings.gc_interval_seconds)
    return ContextParts(workers=[gc], services={"gc": gc})
