"""eventsourcing environment variables for one Application, and the process's one PostgreSQL
datastore (connection pool), derived from our settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlparse

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import Environment

from infra.eventstore.postgres import SharedPostgresFactory, TildePostgresDatastore
from infra.settings import Settings

# A CLI command needs two: the outbox projector reads aggregates while its transaction is open.
CLI_POOL_SIZE = 2

AGGREGATE_CACHE_SIZE = 10_000
RECORDER_TOPIC = "infra.eventstore.postgres:TildePostgresApplicationRecorder"
SQLITE_RECORDER_TOPIC = "infra.eventstore.sqlite:TildeSQLiteApplicationRecorder"


def postgres_params(url: str) -> dict[str, str]:
    """host/port/db/user/password of a postgresql:// URL."""
    parsed = urlparse(url)
    return {
        "host": parsed.hostname or "127.0.0.1",
        "port": str(parsed.port or 5432),
        "dbname": unquote(parsed.path.lstrip("/")) or "postgres",
        "user": unquote(parsed.username or "postgres"),
        "password": unquote(parsed.password or ""),
    }


def application_env(settings: Settings, name: str) -> dict[str, str]:
    """The env dict an Application named `name` is constructed with."""
    env: dict[str, str] = {
        "AGGREGATE_CACHE_MAXSIZE": str(AGGREGATE_CACHE_SIZE),
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
    }
    if settings.event_cipher_key:
        env["CIPHER_TOPIC"] = "eventsourcing.cryptography:AESCipher"
        env["CIPHER_KEY"] = settings.event_cipher_key
    if settings.is_postgres:
        pg = postgres_params(settings.database_url)
        env.update(
            {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_HOST": pg["host"],
                "POSTGRES_PORT": pg["port"],
                "POSTGRES_DBNAME": pg["dbname"],
                "POSTGRES_USER": pg["user"],
                "POSTGRES_PASSWORD": pg["password"],
                # Pool settings live on the shared datastore (`postgres_datastore`).
                "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC,
            }
        )
    else:
        events_dir = settings.data_dir / "events"
        events_dir.mkdir(parents=True, exist_ok=True)
        env.update(
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(events_dir / f"{name}.sqlite"),
                "SQLITE_LOCK_TIMEOUT": "10",
                "APPLICATION_RECORDER_TOPIC": SQLITE_RECORDER_TOPIC,
            }
        )
    return env


def application_name(settings: Settings, purpose: str) -> str:
    """`tilde-<role>:<pid>:<purpose>`: who holds a connection, readable in pg_stat_activity."""
    return f"tilde-{settings.role}:{os.getpid()}:{purpose}"


def pool_size(settings: Settings) -> int:
    """Connections of this process's one pool (event store and read models together)."""
    if settings.role == "cli":
        return CLI_POOL_SIZE
    if settings.run_projectors:  # the outbox projector reads aggregates in its transaction
        return max(2, settings.db_pool_size)
    return settings.db_pool_size


def postgres_datastore(settings: Settings) -> TildePostgresDatastore:
    """The one pool of this process: every event-store application and the read models share
    it (opened lazily, grows to `pool_size`, shrinks back after 10 idle minutes)."""
    pg = postgres_params(settings.database_url)
    size = pool_size(settings)
    datastore = TildePostgresDatastore(
        pg["dbname"],
        pg["host"],
        pg["port"],
        pg["user"],
        pg["password"],
        # The library's "connect timeout" is the pool's wait: short, a saturated pool is a 503.
        connect_timeout=settings.db_pool_timeout,
        idle_in_transaction_session_timeout=10,
        pool_size=1,
        max_overflow=size - 1,
        max_waiting=settings.db_max_waiting,
        lock_timeout=5,
    )
    assert isinstance(datastore.pool.kwargs, dict)
    datastore.pool.kwargs.update(
        connect_timeout=max(1, int(settings.db_pool_timeout)),
        application_name=application_name(settings, "pool"),
    )
    return datastore


def factory_on(datastore: PostgresDatastore) -> Callable[[Environment], InfrastructureFactory[Any]]:
    """What an application builds its persistence with: the shared datastore."""
    return lambda env: SharedPostgresFactory(env, datastore)
