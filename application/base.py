"""The base every context's Application extends: clock, observers, retries, write positions."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    JSONTranscoder,
    Recording,
    Transcoding,
)
from eventsourcing.utils import Environment

from application.nonblocking import waiting_allowed
from domain.shared.errors import Conflict, NotFound
from domain.shared.values import Actor, utcnow

T = TypeVar("T")
Observer = Callable[[str, Sequence[Recording[Any]]], None]


@dataclass(frozen=True)
class Written:
    """Where a command's events landed: application name, last notification id, event topics."""

    application: str
    position: int
    topics: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Result(Generic[T]):
    """A command's answer plus the positions its events were written at (for read-your-writes)."""

    value: T
    written: tuple[Written, ...] = ()


class ActorAsDict(Transcoding):
    """Snapshots carry `Actor` values (who created an aggregate)."""

    type = Actor
    name = "actor"

    def encode(self, obj: Actor) -> dict[str, str]:
        return {"type": obj.type, "id": obj.id}

    def decode(self, data: dict[str, str]) -> Actor:
        return Actor(data["type"], data["id"])


def project(aggregate: Any, events: Iterable[Any]) -> Any:
    """eventsourcing's `project_aggregate` without its per-event `isinstance` against a runtime
    protocol (a typing check costing more than most events' mutation); our events all mutate."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class TildeApplication(Application[Any]):
    """An eventsourcing Application with an injectable clock and save observers."""

    # Attempts for a command that lost an optimistic-concurrency race before answering 409.
    max_attempts = 5

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        observers: Iterable[Observer] = (),
        factory: Callable[[Environment], InfrastructureFactory[Any]] | None = None,
    ) -> None:
        self.clock = clock
        self.observers: list[Observer] = list(observers)
        # Builds the persistence from this application's environment; the composition root
        # passes one that shares a process-wide connection pool.
        self._factory = factory
        # Views that must never lag: applied in the transaction that appends the events.
        self.inline_projection: Callable[[Any, list[Any]], None] | None = None
        super().__init__(env)

    def construct_factory(self, env: Environment) -> InfrastructureFactory[Any]:
        if self._factory is not None:
            return self._factory(env)
        return super().construct_factory(env)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(ActorAsDict())

    def _inline(self, cursor: Any, stored_events: Sequence[Any]) -> None:
        assert self.inline_projection is not None
        self.inline_projection(cursor, [self.mapper.to_domain_event(s) for s in stored_events])

    def record(self, *objs: Any, expect: Sequence[tuple[Any, int]] = ()) -> Written:
        """Save aggregates/events atomically; return where they landed. `expect`: (id,
        version) of aggregates checked but not saved, whose streams must still end at that
        version (`supports_expect`), else the save fails as a lost version race."""
        options: dict[str, Any] = {}
        if self.inline_projection is not None:
            options["inline"] = self._inline
        if expect:
            options["expect"] = expect
        recordings = self.save(*objs, **options)
        if not recordings:
            return Written(self.name, 0)
        return Written(
            self.name,
            max(r.notification.id for r in recordings if r.notification.id is not None),
            frozenset(r.notification.topic for r in recordings),
        )

    def _notify(self, recordings: list[Recording[Any]]) -> None:
        for observer in self.observers:
            observer(self.name, recordings)

    def get(self, aggregate_id: Any, kind: type[T], what: str = "resource") -> T:
        """Load an aggregate of the expected type, or raise NotFound."""
        try:
            aggregate: Any = self.repository.get(
                aggregate_id, projector_func=project, fastforward_skipping=not waiting_allowed()
            )
        except AggregateNotFoundError:
            raise NotFound(f"{what} not found") from None
        if not isinstance(aggregate, kind):
            raise NotFound(f"{what} not found")
        return aggregate

    def find(self, aggregate_id: Any, kind: type[T]) -> T | None:
        """Load an aggregate of the expected type, or None. Where waiting is not allowed
        (`application.nonblocking`), an aggregate another thread or call is fast-forwarding
        right now is answered as cached instead of waiting for it: a save from it conflicts on
        the version and is retried with a fresh read, as any lost race."""
        try:
            aggregate: Any = self.repository.get(
                aggregate_id, projector_func=project, fastforward_skipping=not waiting_allowed()
            )
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, kind) else None

    def peek(self, aggregate_id: Any, kind: type[T]) -> T | None:
        """A read-only load: the cached instance itself (no defensive copy), and no waiting
        behind another thread's fast-forward of it (its state may be a moment old). Never
        mutate what this returns."""
        try:
            aggregate: Any = self.repository.get(
                aggregate_id,
                fastforward_skipping=True,
                deepcopy_from_cache=False,
                projector_func=project,
            )
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, kind) else None

    @property
    def supports_expect(self) -> bool:
        """Whether `record(…, expect=…)` is checked by the event store."""
        return bool(getattr(self.recorder, "supports_expect", False))

    @contextlib.contextmanager
    def holding_cached(self, ids: Sequence[Any]) -> Iterator[list[Any] | None]:
        """The cached instances of `ids`, held still while the block runs (their fast-forward
        locks taken without waiting), so each one's state and version are read together; None
        when one is not cached or is being fast-forwarded. No I/O: the state is as last read
        here. Never mutate them."""
        repository = self.repository
        cache = repository.cache
        held: list[tuple[Any, Any]] = []
        found: list[Any] | None = [] if cache is not None and repository.fastforward else None
        try:
            for aggregate_id in ids if found is not None else ():
                try:
                    aggregate = cache.get(aggregate_id)  # type: ignore[union-attr]
                except KeyError:
                    found = None
                    break
                # The library's own lock (private API, as in `peek_many`).
                lock = repository._use_fastforward_lock(aggregate_id)
                if not lock.acquire(blocking=False):
                    repository._disuse_fastforward_lock(aggregate_id)
                    found = None
                    break
                held.append((aggregate_id, lock))
                found.append(aggregate)  # type: ignore[union-attr]
            yield found
        finally:
            for aggregate_id, lock in held:
                lock.release()
                repository._disuse_fastforward_lock(aggregate_id)

    def peek_many(self, wanted: Sequence[tuple[Any, type[Any]]]) -> list[Any]:
        """`peek` of several aggregates, the fast-forwards of those cached read in one query
        where the recorder can (`select_events_after`): a request that checks a repository
        and a session makes one round trip to the event store instead of two. Each entry of
        the answer is what `peek` of that (id, kind) answers; the semantics are the
        library's cached get with `fastforward_skipping`: an aggregate another thread is
        fast-forwarding right now is answered as cached, a moment old."""
        repository = self.repository
        select_after = getattr(self.recorder, "select_events_after", None)
        cache = repository.cache
        if select_after is None or cache is None or not repository.fastforward:
            return [self.peek(aggregate_id, kind) for aggregate_id, kind in wanted]
        found: dict[Any, Any] = {}
        held: list[tuple[Any, Any]] = []  # (id, fast-forward lock) of the cached ones
        try:
            for aggregate_id, _ in wanted:
                if aggregate_id in found:
                    continue
                try:
                    found[aggregate_id] = cache.get(aggregate_id)
                except KeyError:
                    continue  # not cached: `peek` reconstructs it below
                # The library's own lock (private API, eventsourcing 9.5 is pinned): the
                # cached instance is mutated by the fast-forward, one thread at a time.
                lock = repository._use_fastforward_lock(aggregate_id)
                if lock.acquire(blocking=False):
                    held.append((aggregate_id, lock))
                else:
                    repository._disuse_fastforward_lock(aggregate_id)
            if held:
                stored = select_after([(i, found[i].version) for i, _ in held])
                for aggregate_id, _ in held:
                    events = [self.mapper.to_domain_event(s) for s in stored.get(aggregate_id, ())]
                    if events:
                        found[aggregate_id] = project(found[aggregate_id], events)
        finally:
            for aggregate_id, lock in held:
                lock.release()
                repository._disuse_fastforward_lock(aggregate_id)
        answer = []
        for aggregate_id, kind in wanted:
            aggregate = (
                found[aggregate_id] if aggregate_id in found else self.peek(aggregate_id, kind)
            )
            answer.append(aggregate if isinstance(aggregate, kind) else None)
        return answer

    def retrying(
        self,
        command: Callable[[], T],
        *,
        conflict: str = "the resource changed concurrently; retry the request",
    ) -> T:
        """Run a load-check-save command again when it loses a concurrency race."""
        for _ in range(self.max_attempts - 1):
            try:
                return command()
            except IntegrityError:
                continue
        try:
            return command()
        except IntegrityError:
            raise Conflict(conflict) from None
