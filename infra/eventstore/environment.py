"""eventsourcing environment variables for one Application, derived from our settings."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from infra.settings import Settings

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
                # Short waits: a saturated pool answers 503 quickly instead of hanging.
                "POSTGRES_CONNECT_TIMEOUT": str(max(1, int(settings.db_pool_timeout))),
                "POSTGRES_POOL_SIZE": str(max(1, settings.db_pool_size // 2)),
                "POSTGRES_MAX_OVERFLOW": str(max(1, settings.db_pool_size // 2)),
                "POSTGRES_MAX_WAITING": str(settings.db_max_waiting),
                "POSTGRES_LOCK_TIMEOUT": "5",
                "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
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
