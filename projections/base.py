"""What a view is: its tables, the events it follows, and how each event changes its rows.

Views are written against the small `Cursor` protocol so the same projection code runs on
SQLite and PostgreSQL, incrementally and during a rebuild. SQL uses `?` placeholders and the
portable subset both databases share (TEXT, BIGINT, BOOLEAN, `ON CONFLICT … DO UPDATE`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

from eventsourcing.utils import get_topic


class Cursor(Protocol):
    """The slice of a DB-API cursor views use; rows come back as dicts."""

    rowcount: int

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Any:
        """`INSERT INTO table (columns)` of each row (a duplicate key fails the transaction,
        as the statement would), the cheapest way the connection allows (PostgreSQL: COPY)."""

    def fetchone(self) -> dict[str, Any] | None: ...

    def fetchall(self) -> list[dict[str, Any]]: ...


class Reader(Protocol):
    """Read access for queries (autocommit, short)."""

    dialect: str

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None: ...


def on(*event_types: type) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Mark a view method as the handler of the given event classes."""

    def decorate(method: Callable[..., None]) -> Callable[..., None]:
        method._handles = event_types  # type: ignore[attr-defined]
        return method

    return decorate


class View(ABC):
    """A read model built by folding the events of one or more applications."""

    name: ClassVar[str]
    # Bump when the tables or the folding change: the manager rebuilds the view on start.
    version: ClassVar[int] = 1
    # Whether `projections rebuild` may drop it (process-manager state such as the outbox
    # must not be rebuilt: it remembers side effects already performed).
    rebuildable: ClassVar[bool] = True
    # Whether read-your-writes waits for it (process managers' views: no).
    waits_for_reads: ClassVar[bool] = True
    # Application name -> the event classes of that application this view handles.
    follows: ClassVar[dict[str, tuple[type, ...]]] = {}
    tables: ClassVar[tuple[str, ...]] = ()
    _handlers: ClassVar[dict[type, Callable[..., None]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers: dict[type, Callable[..., None]] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                for event_type in getattr(attr, "_handles", ()):
                    handlers[event_type] = attr
        cls._handlers = handlers

    @abstractmethod
    def create_statements(self, dialect: str) -> list[str]:
        """DDL for the view's tables and indexes (idempotent)."""

    def topics(self, application: str) -> list[str]:
        return [get_topic(t) for t in self.follows.get(application, ())]

    def apply(self, cur: Cursor, event: Any) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(self, cur, event)

    def apply_all(self, cur: Cursor, events: Sequence[Any]) -> None:
        """Fold a batch of events, in order, within one transaction. A view that can combine
        a batch's events in memory first (fewer, larger statements) overrides this; its rows
        must then equal those of `apply` called for each event in turn, however the log is
        cut into batches."""
        for event in events:
            self.apply(cur, event)

    @classmethod
    def folds_batches(cls) -> bool:
        """Whether the view overrides `apply_all` (the runner then hands it whole batches)."""
        return cls.apply_all is not View.apply_all
