"""Per-process caches: a thread-safe LRU with a time-to-live, and the log watch that says
whether an entry derived from the event logs is still current."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Generic, Protocol, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    """Keeps up to `maxsize` entries, each for at most `ttl` seconds."""

    def __init__(self, maxsize: int = 10_000, ttl: float = 60.0) -> None:
        self.maxsize = maxsize
        self.ttl = ttl
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            expires, value = item
            if expires < time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + self.ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def pop(self, key: Hashable) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class LogSource(Protocol):
    """Where the watched logs' heads are read (the event store)."""

    def heads(self) -> Mapping[str, int]:
        """The current last position of each watched log."""
        ...

    def topics(self, log: str, after: int, upto: int) -> frozenset[str] | None:
        """The event types in `(after, upto]` of `log`, or None when too many to read."""
        ...


class LogWatch:
    """Generations of the event logs that per-process caches are derived from.

    A cache entry is stored under the generation read *before* the data was loaded and is
    current while that generation is. A generation moves on a local save, on another
    process's NOTIFY, when the LISTEN connection (re)connects, and — whatever NOTIFY does —
    when a check finds a log head past the one the previous check saw. The check runs at most
    once per `interval` seconds per process, before the first cache answer after that, so no
    answer rests on log heads older than `interval` plus one check's duration. Events of an
    `ignore`d type (an API key's last use) change nothing cached and move nothing.
    """

    def __init__(
        self,
        source: LogSource | None = None,
        *,
        interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.interval = interval
        self.clock = clock
        self.ignored: frozenset[str] = frozenset()
        self._counter = itertools.count(1)
        self._epoch = 0
        self._generations: dict[str, int] = {}
        self._seen: dict[str, int] = {}
        self._checked_at = -math.inf
        self._lock = threading.Lock()
        self._checking = threading.Lock()

    def ignore(self, *topics: str) -> None:
        """Appends of only these event types leave every cache current."""
        self.ignored |= frozenset(topics)

    def moved(self, *logs: str) -> None:
        """The named logs may have new events; with no name, any log may (and the heads are
        read again before the next answer)."""
        with self._lock:
            if not logs:
                self._epoch = next(self._counter)
                self._checked_at = -math.inf
            for log in logs:
                self._generations[log] = next(self._counter)

    def appended(self, log: str, topics: Iterable[str] | None) -> None:
        """Events of these types (None: unknown) were appended to `log`."""
        if topics is None or not frozenset(topics) <= self.ignored:
            self.moved(log)

    def current(self, logs: tuple[str, ...]) -> tuple[int, ...]:
        """A token for the logs' generations, after checking the heads if that is due (I/O)."""
        if self.clock() - self._checked_at >= self.interval:
            self._check()
        return self._token(logs)

    def current_without_io(self, logs: tuple[str, ...]) -> tuple[int, ...] | None:
        """A token for the logs' generations, or None when a head check is due (it needs I/O)."""
        if self.clock() - self._checked_at >= self.interval:
            return None
        return self._token(logs)

    def _token(self, logs: tuple[str, ...]) -> tuple[int, ...]:
        generations = self._generations
        return (self._epoch, *(generations.get(log, 0) for log in logs))

    def _check(self) -> None:
        # One check at a time; the others wait for it rather than answer from a stale cache.
        with self._checking:
            started = self.clock()
            if started - self._checked_at < self.interval:
                return  # another thread just checked
            if self.source is None:  # nothing to read: only explicit moves count
                self._checked_at = math.inf
                return
            try:
                heads = dict(self.source.heads())
                moved = [log for log, head in heads.items() if self._moved(log, head)]
            except Exception:
                self.moved()  # heads unknown: nothing cached may be trusted
                raise
            with self._lock:
                for log in moved:
                    self._generations[log] = next(self._counter)
                self._seen = heads
                self._checked_at = started

    def _moved(self, log: str, head: int) -> bool:
        seen = self._seen.get(log)
        if seen is None or head < seen:
            return True
        if head == seen:
            return False
        topics = self.source.topics(log, seen, head) if self.source and self.ignored else None
        return topics is None or not topics <= self.ignored
