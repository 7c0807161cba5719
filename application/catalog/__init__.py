"""The catalog context's Application: repositories, sessions, objects, commits, retention."""

from __future__ import annotations

from application.catalog.app import CatalogBase
from application.catalog.gc import GarbageCollection, GcReport
from application.catalog.history import HistoryCommands
from application.catalog.objects import ObjectCommands, UploadGrant
from application.catalog.repositories import RepositoryCommands
from application.catalog.sessions import CommitOutcome, SessionCommands


class CatalogApplication(
    RepositoryCommands,
    ObjectCommands,
    GarbageCollection,
    HistoryCommands,
    SessionCommands,
    CatalogBase,
):
    """The versioned catalog, event-sourced; its tables are projected inline."""

    name = "catalog"


__all__ = ["CatalogApplication", "CommitOutcome", "GcReport", "UploadGrant"]
