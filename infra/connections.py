"""Every database connection one process opens, sized from settings and its role.

PostgreSQL: one pool shared by the event-store applications and the read models
(`TILDE_DB_POOL_SIZE`, 2 for CLI commands), one session holding all of the process's
advisory locks (opened by the first attempt), and the NOTIFY listener (built by the
composition root). SQLite: a file per database, file locks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from infra.eventstore.environment import application_name, factory_on, postgres_datastore
from infra.projections.locks import (
    FileLock,
    InstanceLock,
    PostgresAdvisoryLock,
    PostgresLockOwners,
    PostgresLockSession,
)
from infra.settings import Settings
from infra.sql.database import Database, PostgresDatabase, SqliteDatabase


@dataclass
class Connections:
    """The read-model database, how applications build their persistence, and instance locks."""

    db: Database
    factory: Callable[[Environment], InfrastructureFactory[Any]] | None
    locks: Callable[[str], InstanceLock]
    lock_session: PostgresLockSession | None = None

    def close(self) -> None:
        """After the applications closed (they leave the shared pool to its owner)."""
        if self.lock_session is not None:
            self.lock_session.close()
        self.db.close()


def open_connections(settings: Settings) -> Connections:
    if settings.is_postgres:
        datastore = postgres_datastore(settings)
        db = PostgresDatabase(
            settings.database_url, timeout=settings.db_pool_timeout, pool=datastore.pool
        )
        session = PostgresLockSession(settings.database_url, application_name(settings, "locks"))
        owners = PostgresLockOwners(db)
        return Connections(
            db,
            factory_on(datastore),
            lambda name: PostgresAdvisoryLock(session, owners, name),
            session,
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    locks_dir = settings.data_dir / "locks"
    return Connections(
        SqliteDatabase(settings.data_dir / "views.sqlite"),
        None,
        lambda name: FileLock(locks_dir / f"{name.replace(':', '-')}.lock"),
    )
