"""The composition root: the process-wide adapters, every registered context
(`infra.contexts.CONTEXTS`), the projection manager over their views, the NOTIFY listener."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from eventsourcing.application import Application
from psycopg.conninfo import make_conninfo

import infra.contexts
from application.authz import Authorizer
from application.base import Written
from application.cache import LogWatch
from application.catalog import CatalogApplication
from application.identity import IdentityApplication
from application.organizations import OrganizationsApplication
from application.ports import BlobStore, Mailer, PasswordHasher, RateLimiter
from domain.shared.errors import NotFound
from domain.shared.values import iso, utcnow
from infra.connections import Connections, open_connections
from infra.contexts.base import Context, Shared, Worker
from infra.crypto.tokens import HmacTokenSigner, SessionTokens, load_or_create_secret
from infra.eventstore.environment import application_name
from infra.eventstore.log_heads import EventStoreLogs
from infra.eventstore.postgres import TildePostgresApplicationRecorder
from infra.gc_worker import GcWorker
from infra.mail.sender import OutboxSender
from infra.memory.rate_limiter import MemoryRateLimiter
from infra.metrics import Metrics
from infra.projections.health import projector_health
from infra.projections.listener import PostgresNotifyListener
from infra.projections.locks import InstanceLock
from infra.projections.manager import ProjectionManager
from infra.redis.rate_limiter import RedisRateLimiter
from infra.settings import Settings
from infra.sql.database import Database

T = TypeVar("T")


@dataclass
class Container:
    """Everything a process needs, wired once."""

    settings: Settings
    metrics: Metrics
    db: Database
    limiter: RateLimiter
    identity: IdentityApplication
    organizations: OrganizationsApplication
    catalog: CatalogApplication
    catalog_db: Database
    blobs: BlobStore
    authorizer: Authorizer
    projections: ProjectionManager
    outbox: OutboxSender
    session_tokens: SessionTokens
    gc: GcWorker | None = None
    listener: PostgresNotifyListener | None = None
    connections: Connections | None = None
    # What every context built, by name (`service`); event-sourced applications by name.
    services: dict[str, Any] = field(default_factory=dict)
    apps: dict[str, Application[Any]] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    singletons: dict[str, InstanceLock] = field(default_factory=dict)
    closers: list[Callable[[], None]] = field(default_factory=list)
    background: bool = field(default=False)
    listening: bool = field(default=False)
    _health_report: tuple[float, dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def applications(self) -> dict[str, Application[Any]]:
        return self.apps

    def service(self, name: str, kind: type[T]) -> T:
        """What a context registered under `name` (a new context needs no attribute here)."""
        value = self.services[name]
        if not isinstance(value, kind):
            raise TypeError(f"service {name!r} is a {type(value).__name__}, not {kind.__name__}")
        return value

    def now(self) -> str:
        return iso(self.identity.clock()) or ""

    def wait_for(self, written: Iterable[Written], timeout: float | None = None) -> bool:
        """Read-your-writes: block until the views these writes feed have caught up."""
        return self.projections.wait(
            written, self.settings.read_your_writes_timeout if timeout is None else timeout
        )

    def resolve_organization(self, name_or_id: str) -> str:
        """An organization id from its name (ids pass through)."""
        try:
            return str(self.organizations.organization(name_or_id).id)
        except NotFound:
            return name_or_id

    def health(self) -> dict[str, str]:
        """Liveness of each backing service, for `GET /health`."""
        checks: dict[str, str] = {}
        try:
            self.db.query_one("SELECT 1 AS ok")
            checks["read_models"] = "ok"
        except Exception:
            checks["read_models"] = "unavailable"
        try:
            for app in self.applications.values():
                app.recorder.max_notification_id()
            checks["event_store"] = "ok"
        except Exception:
            checks["event_store"] = "unavailable"
        ping = getattr(self.limiter, "ping", None)
        if ping is not None:
            checks["redis"] = "ok" if ping() else "unavailable"
        return checks

    def refresh_lag_metrics(self) -> None:
        for row in self.projections.status():
            labels = (row["projection"], row["application"])
            self.metrics.projector_lag.labels(*labels).set(row["lag"])
            self.metrics.projector_position.labels(*labels).set(row["position"])
        self.projector_health()

    def projector_health(self, max_age: float = 0.0) -> dict[str, Any]:
        """Which projectors run nowhere or lag (`/health` says degraded; gauges follow).
        `max_age`: a report that recent is reused (a probe hammering `/health` must not
        cost a dozen queries per call)."""
        cached = self._health_report
        if cached is not None and time.monotonic() - cached[0] < max_age:
            return cached[1]
        report = projector_health(
            self.projections, self.singletons, self.settings.health_max_lag_events, self.metrics
        )
        self._health_report = (time.monotonic(), report)
        return report

    def start_listening(self) -> None:
        """Every serving process hears other processes' writes (PostgreSQL NOTIFY)."""
        if self.listener is not None and not self.listening:
            self.listener.start()
            self.listening = True

    def start_background(self) -> None:
        """Projectors, then the contexts' workers (serve by default, and worker)."""
        self.start_listening()
        if self.background:
            return
        self.projections.start()
        for worker in self.workers:
            worker.start()
        self.background = True

    def stop_background(self) -> None:
        if self.listening and self.listener is not None:
            self.listener.stop()
            self.listening = False
        if self.background:
            for worker in reversed(self.workers):
                worker.stop()
            self.projections.stop()
            self.background = False

    def close(self) -> None:
        self.stop_background()
        for app in self.applications.values():
            app.close()
        if self.connections is not None:
            self.connections.close()
        else:
            self.db.close()
        for close in self.closers:
            close()


def _secret(settings: Settings) -> str:
    return settings.secret_key or load_or_create_secret(settings.data_dir / "secret.key")


def _listener(
    settings: Settings, shared: Shared, manager: ProjectionManager
) -> PostgresNotifyListener | None:
    """Hears other processes' appends (PostgreSQL NOTIFY); None for the embedded mode."""
    if not settings.is_postgres:
        return None
    apps, watch = shared.apps, shared.watch

    def heard(app_name: str, topics: frozenset[str] | None) -> None:
        """Another container appended events: wake the projectors interested in them, drop
        cached keys and snapshots built on that log."""
        watch.appended(app_name, topics)
        manager.wake(app_name, topics)

    def listening_again() -> None:
        """NOTIFYs sent while LISTEN was not in place are lost: drop every cache built on the
        logs and wake every projector."""
        watch.moved()
        for app_name in apps:
            manager.wake(app_name)

    # Names this container's appends in their NOTIFY payloads, so its listener skips them.
    sender = uuid.uuid4().hex
    for app in apps.values():
        if isinstance(app.recorder, TildePostgresApplicationRecorder):
            app.recorder.notify_sender = sender
    return PostgresNotifyListener(
        # Named in pg_stat_activity like every connection of this process.
        make_conninfo(settings.database_url, application_name=application_name(settings, "listen")),
        apps,
        heard,
        sender=sender,
        on_connect=listening_again,
    )


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    limiter: RateLimiter | None = None,
    mailer: Mailer | None = None,
    hasher: PasswordHasher | None = None,
    contexts: Sequence[Context] | None = None,
) -> Container:
    """Build a Container; tests pass settings, a clock or adapters to replace the defaults."""
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    connections = open_connections(settings)
    if limiter is None:
        limiter = (
            RedisRateLimiter(settings.redis_url) if settings.redis_url else MemoryRateLimiter()
        )
    secret = _secret(settings)
    apps: dict[str, Application[Any]] = {}
    watched_logs: list[str] = []
    shared = Shared(
        settings=settings,
        clock=clock,
        metrics=Metrics(),
        connections=connections,
        limiter=limiter,
        secret=secret,
        signer=HmacTokenSigner(secret),
        # Cached keys and authorization snapshots are current while the watched logs'
        # generations are (the contexts name their logs as they are built).
        watch=LogWatch(EventStoreLogs(apps, watched_logs), interval=settings.cache_check_interval),
        watched_logs=watched_logs,
        hasher=hasher,
        mailer=mailer,
        apps=apps,
    )
    parts = []
    # Read at call time, so a context registered in `infra.contexts` needs nothing here.
    for build in infra.contexts.CONTEXTS if contexts is None else contexts:
        part = build(shared)
        shared.add(part)
        parts.append(part)
    for part in parts:
        for inline in part.inline:
            inline.install()
    manager = ProjectionManager(
        [view for part in parts for view in part.views],
        apps,
        connections.db,
        shared.metrics,
        connections.locks,
        batch_size=settings.projector_batch_size,
        batch_seconds=settings.projector_batch_seconds,
        poll_interval=settings.projector_poll_interval,
        inline=[inline for part in parts for inline in part.inline],
    )
    for part in parts:
        for attach in part.attach:
            attach(manager)
    manager.ensure_schema()
    shared.on_append.append(manager.wake)
    services = shared.services
    return Container(
        settings=settings,
        metrics=shared.metrics,
        db=connections.db,
        limiter=limiter,
        identity=shared.get("identity", IdentityApplication),
        organizations=shared.get("organizations", OrganizationsApplication),
        catalog=shared.get("catalog", CatalogApplication),
        catalog_db=services["catalog_db"],
        blobs=services["blobs"],
        authorizer=shared.get("authorizer", Authorizer),
        projections=manager,
        outbox=shared.get("outbox", OutboxSender),
        session_tokens=SessionTokens(secret),
        gc=services.get("gc"),
        listener=_listener(settings, shared, manager),
        connections=connections,
        services=services,
        apps=apps,
        workers=[worker for part in parts for worker in part.workers],
        singletons={name: lock for part in parts for name, lock in part.singletons.items()},
        closers=[close for part in parts for close in part.closers],
    )
