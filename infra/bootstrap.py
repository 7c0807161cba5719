"""The composition root: builds adapters, applications, views and workers from settings."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Recording
from psycopg.conninfo import make_conninfo

from application.authz import Authorizer
from application.base import Written
from application.cache import LogWatch
from application.catalog import CatalogApplication
from application.identity import IdentityApplication, IdentityPolicy
from application.notifications import Notifier
from application.organizations import OrganizationsApplication
from application.ports import BlobStore, Mailer, PasswordHasher, RateLimiter
from domain.shared.errors import NotFound
from domain.shared.values import iso, utcnow
from infra.connections import Connections, open_connections
from infra.crypto.passwords import Argon2PasswordHasher
from infra.crypto.tokens import HmacTokenSigner, SessionTokens, load_or_create_secret
from infra.eventstore.environment import application_env, application_name
from infra.eventstore.log_heads import EventStoreLogs
from infra.eventstore.postgres import TildePostgresApplicationRecorder
from infra.gc_worker import GcWorker
from infra.localfs.blob_store import LocalBlobStore
from infra.mail.mailers import MailboxMailer, SmtpMailer
from infra.mail.sender import OutboxSender
from infra.memory.rate_limiter import MemoryRateLimiter
from infra.metrics import Metrics
from infra.projections.catch_up import ViewsCatchUp
from infra.projections.health import projector_health
from infra.projections.inline import InlineProjection
from infra.projections.listener import PostgresNotifyListener
from infra.projections.manager import ProjectionManager
from infra.redis.rate_limiter import RedisRateLimiter
from infra.s3.blob_store import S3BlobStore
from infra.settings import Settings
from infra.sql.database import Database, SqliteDatabase
from projections.base import View
from projections.catalog.catalog import CatalogView
from projections.catalog.reads import SqlCatalogReads
from projections.catalog.repositories import RepositoriesView
from projections.identity.api_keys import ApiKeysView, list_keys
from projections.identity.users import UsersView
from projections.organizations.audit import AuditView
from projections.organizations.authz_source import AUTHZ_VIEWS, SqlAuthzSource
from projections.organizations.groups import GroupsView
from projections.organizations.invitations import InvitationsView, has_open_invitation
from projections.organizations.organizations import OrganizationsView
from projections.organizations.policies import PoliciesView
from projections.organizations.principals import RolesAndAgentsView
from projections.outbox import OutboxView

# The logs whose heads the process watches (LogWatch): keys, users, organizations.
WATCHED_LOGS = ("identity", "organizations")


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
    background: bool = field(default=False)
    listening: bool = field(default=False)

    @property
    def applications(self) -> dict[str, Application[Any]]:
        return {app.name: app for app in (self.identity, self.organizations, self.catalog)}

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

    def projector_health(self) -> dict[str, Any]:
        """Which projectors run nowhere or lag (`/health` says degraded; gauges follow)."""
        return projector_health(
            self.projections,
            {"outbox-sender": self.outbox.lock},
            self.settings.health_max_lag_events,
            self.metrics,
        )

    def start_listening(self) -> None:
        """Every serving process hears other processes' writes (PostgreSQL NOTIFY)."""
        if self.listener is not None and not self.listening:
            self.listener.start()
            self.listening = True

    def start_background(self) -> None:
        """Projectors and the outbox sender (serve by default, and worker)."""
        self.start_listening()
        if self.background:
            return
        self.projections.start()
        self.outbox.start()
        if self.gc is not None:
            self.gc.start()
        self.background = True

    def stop_background(self) -> None:
        if self.listening and self.listener is not None:
            self.listener.stop()
            self.listening = False
        if self.background:
            if self.gc is not None:
                self.gc.stop()
            self.outbox.stop()
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
        if self.catalog_db is not self.db:
            self.catalog_db.close()


def _catalog_database(settings: Settings, db: Database) -> Database:
    """Where the inline catalog tables live: beside the catalog's events (same transaction)."""
    if settings.is_postgres:
        return db
    return SqliteDatabase(settings.data_dir / "events" / "catalog.sqlite")


def _blob_store(settings: Settings, secret: str) -> BlobStore:
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


def _secret(settings: Settings) -> str:
    return settings.secret_key or load_or_create_secret(settings.data_dir / "secret.key")


def _mailer(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from)
    return MailboxMailer(settings.data_dir / "mailbox", settings.mail_from)


def identity_policy(settings: Settings) -> IdentityPolicy:
    return IdentityPolicy(
        login_attempts_per_ip=settings.login_attempts_per_ip,
        lockout_threshold=settings.lockout_threshold,
        lockout_account_threshold=settings.lockout_account_threshold,
        lockout_window=timedelta(minutes=settings.lockout_window_minutes),
        lockout_duration=timedelta(minutes=settings.lockout_minutes),
        session_ttl=timedelta(hours=settings.session_ttl_hours),
        auto_approve_signups=settings.auto_approve_signups,
    )


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    limiter: RateLimiter | None = None,
    mailer: Mailer | None = None,
    hasher: PasswordHasher | None = None,
) -> Container:
    """Build a Container; tests pass settings, a clock or adapters to replace the defaults."""
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metrics = Metrics()
    connections = open_connections(settings)
    db, factory = connections.db, connections.factory
    if limiter is None:
        limiter = (
            RedisRateLimiter(settings.redis_url) if settings.redis_url else MemoryRateLimiter()
        )
    secret = _secret(settings)
    signer = HmacTokenSigner(secret)
    holder: dict[str, Any] = {}
    # Cached keys and authorization snapshots are current while these logs' generations are.
    watch = LogWatch(EventStoreLogs(holder, WATCHED_LOGS), interval=settings.cache_check_interval)

    def on_saved(app_name: str, recordings: Sequence[Recording[Any]]) -> None:
        metrics.events_appended.labels(app_name).inc(len(recordings))
        watch.appended(app_name, frozenset(r.notification.topic for r in recordings))
        if "manager" in holder:
            holder["manager"].wake(app_name, frozenset(r.notification.topic for r in recordings))

    identity = IdentityApplication(
        application_env(settings, "identity"),
        factory=factory,
        hasher=hasher or Argon2PasswordHasher(),
        limiter=limiter,
        signer=signer,
        policy=identity_policy(settings),
        clock=clock,
        observers=[on_saved],
        has_open_invitation=lambda email: has_open_invitation(db, email, iso(clock()) or ""),
        log_watch=watch,
    )
    holder["identity"] = identity
    authz_source = SqlAuthzSource(db)
    authorizer = Authorizer(authz_source, watch)
    organizations = OrganizationsApplication(
        application_env(settings, "organizations"),
        factory=factory,
        users=identity,
        authorizer=authorizer,
        signer=signer,
        clock=clock,
        observers=[on_saved],
    )
    holder["organizations"] = organizations
    organizations.keys = identity
    organizations.key_ids_of = lambda kind, owner: [  # type: ignore[method-assign]
        k["id"] for k in list_keys(db, kind, owner, include_revoked=False)
    ]
    identity.key_owner_resolvers.update(
        role=organizations.principal_for_key, agent=organizations.principal_for_key
    )
    blobs = _blob_store(settings, secret)
    catalog_db = _catalog_database(settings, db)
    catalog = CatalogApplication(
        application_env(settings, "catalog"),
        factory=factory,
        blobs=blobs,
        reads=SqlCatalogReads(catalog_db),
        signer=signer,
        base_url=settings.base_url,
        upload_ttl=settings.upload_url_ttl_seconds,
        download_ttl=settings.download_url_ttl_seconds,
        clock=clock,
        observers=[on_saved],
    )
    apps: dict[str, Application[Any]] = {
        app.name: app for app in (identity, organizations, catalog)
    }
    notifier = Notifier(identity, organizations, base_url=settings.base_url, signer=signer)
    views: list[View] = [
        UsersView(),
        ApiKeysView(),
        OrganizationsView(),
        InvitationsView(),
        GroupsView(),
        PoliciesView(),
        RolesAndAgentsView(),
        AuditView(),
        RepositoriesView(),
        OutboxView(notifier.emails_for),
    ]
    inline = InlineProjection(CatalogView(), catalog, catalog_db)
    inline.install()
    locks = connections.locks
    manager = ProjectionManager(
        views,
        apps,
        db,
        metrics,
        locks,
        batch_size=settings.projector_batch_size,
        batch_seconds=settings.projector_batch_seconds,
        poll_interval=settings.projector_poll_interval,
        inline=[inline],
    )
    # Authorization never waits on a worker: this process folds what the views lack itself.
    authz_source.fold = ViewsCatchUp([manager.runners[name] for name in AUTHZ_VIEWS], db)
    manager.ensure_schema()
    holder["manager"] = manager
    outbox = OutboxSender(db, mailer or _mailer(settings), metrics, locks("outbox-sender"), clock)

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
    listener = (
        PostgresNotifyListener(
            # Named in pg_stat_activity like every connection of this process.
            make_conninfo(
                settings.database_url, application_name=application_name(settings, "listen")
            ),
            apps,
            heard,
            sender=sender,
            on_connect=listening_again,
        )
        if settings.is_postgres
        else None
    )
    return Container(
        settings=settings,
        metrics=metrics,
        db=db,
        limiter=limiter,
        identity=identity,
        organizations=organizations,
        catalog=catalog,
        catalog_db=catalog_db,
        blobs=blobs,
        authorizer=authorizer,
        projections=manager,
        outbox=outbox,
        session_tokens=SessionTokens(secret),
        listener=listener,
        connections=connections,
        gc=GcWorker(catalog.collect, locks("gc"), settings.gc_interval_seconds),
    )
