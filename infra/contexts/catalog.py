"""The catalog context: repositories, sessions, objects and commits, their blob store and the
inline catalog tables."""

from __future__ import annotations

from application.catalog import CatalogApplication
from application.ports import BlobStore
from infra.contexts.base import ContextParts, Shared
from infra.localfs.blob_store import LocalBlobStore
from infra.projections.inline import InlineProjection
from infra.s3.blob_store import S3BlobStore
from infra.settings import Settings
from infra.sql.database import Database, SqliteDatabase
from projections.catalog.catalog import CatalogView
from projections.catalog.reads import SqlCatalogReads
from projections.catalog.repositories import RepositoriesView


def catalog_database(settings: Settings, db: Database) -> Database:
    """Where the inline catalog tables live: beside the catalog's events (same transaction)."""
    if settings.is_postgres:
        return db
    return SqliteDatabase(settings.data_dir / "events" / "catalog.sqlite")


def blob_store(settings: Settings, secret: str) -> BlobStore:
    if settings.blob_store == "s3":
        store = S3BlobStore(
            settings.s3_bucket,
            settings.s3_prefix,
            settings.s3_endpoint_url,
            settings.s3_region,
            settings.s3_access_key_id,
            settings.s3_secret_access_key,
        )
        store.ensure_bucket()
        return store
    return LocalBlobStore(settings.data_dir / "blobs", settings.blob_base_url, secret)


def build(shared: Shared) -> ContextParts:
    settings = shared.settings
    blobs = blob_store(settings, shared.secret)
    catalog_db = catalog_database(settings, shared.db)
    catalog = CatalogApplication(
        shared.env("catalog"),
        factory=shared.factory,
        blobs=blobs,
        reads=SqlCatalogReads(catalog_db),
        signer=shared.signer,
        base_url=settings.base_url,
        upload_ttl=settings.upload_url_ttl_seconds,
        download_ttl=settings.download_url_ttl_seconds,
        deleted_retention_days=shared.settings.deleted_retention_days,
        clock=shared.clock,
        observers=[shared.saved],
    )
    return ContextParts(
        applications=[catalog],
        views=[RepositoriesView()],
        inline=[InlineProjection(CatalogView(), catalog, catalog_db)],
        services={"catalog": catalog, "catalog_db": catalog_db, "blobs": blobs},
        closers=[] if catalog_db is shared.db else [catalog_db.close],
    )
