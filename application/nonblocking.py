"""Work that must not wait: a call made on the server's event loop (the embedded SQLite hot
paths) runs `without_waiting()`, and anything that would block on another writer raises
`WouldBlock` *before it has changed anything*, so the caller can run the same call again on a
worker thread, where waiting is fine.

Waiting here means a lock another thread or process holds (the event store's writer, the
SQLite write lock, a group commit being written). Work that merely takes time (a statement, a
WAL append) is not waiting, and runs.

A call on the loop that can *suspend* (PostgreSQL's: `infra.sql.bridge.run_on_loop` runs it in
a greenlet) has a `Suspender`: it waits by handing control back to the loop, never by
blocking the thread, so it may wait for what other calls or threads will do (its turn in a
group commit, a retry's pause). Locks it cannot wait for that way still raise `WouldBlock`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

# Per thread, per asyncio task and per greenlet (each runs in its own context): calls that
# interleave on one loop (`infra.sql.bridge.run_on_loop`) each have their own flag.
_on: ContextVar[bool] = ContextVar("without_waiting", default=False)


class WouldBlock(Exception):
    """The call would wait for a lock held elsewhere; nothing was written."""


@contextmanager
def without_waiting() -> Iterator[None]:
    """Within this block (on this thread), a write that would wait raises `WouldBlock`."""
    token = _on.set(True)
    try:
        yield
    finally:
        _on.reset(token)


def waiting_allowed() -> bool:
    return not _on.get()


class Suspender(Protocol):
    """How a call that must not block its thread waits: by suspending itself."""

    def sleep(self, seconds: float) -> None:
        """Resume after `seconds`."""

    def alarm(self) -> tuple[Callable[[], None], Callable[[], None]]:
        """(wake, wait): `wait()` suspends this call until `wake()` has been called, from any
        thread or call, before or after (once each)."""


_suspender: ContextVar[Suspender | None] = ContextVar("suspender", default=None)


@contextmanager
def suspending(suspender: Suspender) -> Iterator[None]:
    """Within this block the call waits through `suspender` (see `suspender()`)."""
    token = _suspender.set(suspender)
    try:
        yield
    finally:
        _suspender.reset(token)


def suspender() -> Suspender | None:
    """How this call waits when it must not block its thread; None: it blocks (a thread), or
    it cannot wait at all (`waiting_allowed()` says which)."""
    return _suspender.get()


def pause(seconds: float) -> None:
    """`time.sleep`, suspending instead where the call must not block its thread."""
    waiter = _suspender.get()
    if waiter is not None:
        waiter.sleep(seconds)
    else:
        time.sleep(seconds)
