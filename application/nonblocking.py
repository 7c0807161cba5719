"""Work that must not wait: a call made on the server's event loop (the embedded SQLite hot
paths) runs `without_waiting()`, and anything that would block on another writer raises
`WouldBlock` *before it has changed anything*, so the caller can run the same call again on a
worker thread, where waiting is fine.

Waiting here means a lock another thread or process holds (the event store's writer, the
SQLite write lock, a group commit being written). Work that merely takes time (a statement, a
WAL append) is not waiting, and runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_state = threading.local()


class WouldBlock(Exception):
    """The call would wait for a lock held elsewhere; nothing was written."""


@contextmanager
def without_waiting() -> Iterator[None]:
    """Within this block (on this thread), a write that would wait raises `WouldBlock`."""
    before = getattr(_state, "on", False)
    _state.on = True
    try:
        yield
    finally:
        _state.on = before


def waiting_allowed() -> bool:
    return not getattr(_state, "on", False)
