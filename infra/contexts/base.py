"""What a context module builds on (`Shared`) and what it hands back (`ContextParts`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from eventsourcing.application import Application
from eventsourcing.persistence import InfrastructureFactory, Recording
from eventsourcing.utils import Environment

from application.cache import LogWatch
from application.ports import Mailer, PasswordHasher, RateLimiter
from infra.connections import Connections
from infra.crypto.tokens import HmacTokenSigner
from infra.eventstore.environment import application_env
from infra.metrics import Metrics
from infra.projections.inline import InlineProjection
from infra.projections.locks import InstanceLock
from infra.projections.manager import ProjectionManager
from infra.settings import Settings
from infra.sql.database import Database
from projections.base import View

T = TypeVar("T")


class Worker(Protocol):
    """A background loop started and stopped with the process's background work."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class ContextParts:
    """What one context adds to the process."""

    applications: Sequence[Application[Any]] = ()
    # Kept current by the projection manager's runners (in this order).
    views: Sequence[View] = ()
    # Written in their application's append transaction; installed before the manager.
    inline: Sequence[InlineProjection] = ()
    # Started after the projectors, stopped before them (in reverse order).
    workers: Sequence[Worker] = ()
    # Single-instance loops that `/health` reports as degraded when they run nowhere.
    singletons: Mapping[str, InstanceLock] = field(default_factory=dict)
    # Looked up by name by later contexts (`Shared.get`) and by the container.
    services: Mapping[str, Any] = field(default_factory=dict)
    # Logs whose heads the process's caches follow (`LogWatch`).
    watched_logs: Sequence[str] = ()
    # Wiring that needs the projection manager's runners, run once it exists.
    attach: Sequence[Callable[[ProjectionManager], None]] = ()
    # Resources of the context's own, closed after the applications.
    closers: Sequence[Callable[[], None]] = ()


# A context module's `build`: everything it needs comes from `Shared`.
Context = Callable[["Shared"], ContextParts]


@dataclass
class Shared:
    """The process-wide adapters every context builds on, and what earlier contexts built."""

    settings: Settings
    clock: Callable[[], datetime]
    metrics: Metrics
    connections: Connections
    limiter: RateLimiter
    secret: str
    signer: HmacTokenSigner
    watch: LogWatch
    # The logs `watch` reads heads of; contexts add theirs while the process is built.
    watched_logs: list[str]
    # Replacements for the default adapters (tests).
    hasher: PasswordHasher | None = None
    mailer: Mailer | None = None
    apps: dict[str, Application[Any]] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    # Called on every local append (the projection manager wakes its runners).
    on_append: list[Callable[[str, frozenset[str]], None]] = field(default_factory=list)

    @property
    def db(self) -> Database:
        return self.connections.db

    @property
    def factory(self) -> Callable[[Environment], InfrastructureFactory[Any]] | None:
        return self.connections.factory

    def locks(self, name: str) -> InstanceLock:
        return self.connections.locks(name)

    def env(self, app_name: str) -> dict[str, str]:
        """The env an event-sourced application named `app_name` is constructed with."""
        return application_env(self.settings, app_name)

    def saved(self, app_name: str, recordings: Sequence[Recording[Any]]) -> None:
        """The observer every application gets: metrics, cache generations, wake-ups."""
        self.metrics.events_appended.labels(app_name).inc(len(recordings))
        topics = frozenset(r.notification.topic for r in recordings)
        self.watch.appended(app_name, topics)
        for hook in self.on_append:
            hook(app_name, topics)

    def get(self, name: str, kind: type[T]) -> T:
        """A service an earlier context registered under `name`."""
        value = self.services.get(name)
        if not isinstance(value, kind):
            raise LookupError(
                f"no {kind.__name__} named {name!r}: its context must come earlier in "
                "infra.contexts.CONTEXTS"
            )
        return value

    def add(self, parts: ContextParts) -> None:
        """Register what a context built, so the contexts after it can use it."""
        for app in parts.applications:
            if app.name in self.apps:
                raise ValueError(f"two applications named {app.name!r}")
            self.apps[app.name] = app
        for name in parts.services:
            if name in self.services:
                raise ValueError(f"two services named {name!r}")
        self.services.update(parts.services)
        self.watched_logs.extend(parts.watched_logs)
