"""Identifiers: deterministic uuid5 keys for index aggregates and derived ids; random ones
drawn from a pool of CSPRNG bytes."""

from __future__ import annotations

import os
import threading
from uuid import UUID, uuid5

# Fixed namespace for every deterministic id of tilde-server; never change it.
TILDE_NAMESPACE = UUID("6f1d1c1e-4b0e-5d0a-9a51-7e3d3c7a9b10")


def index_id(kind: str, key: str) -> UUID:
    """Id of the index aggregate that reserves `key` within `kind` (e.g. usernames)."""
    return uuid5(TILDE_NAMESPACE, f"{kind}:{key}")


def derived_id(*parts: object) -> UUID:
    """A stable id derived from other ids (e.g. one outbox message per event and kind)."""
    return uuid5(TILDE_NAMESPACE, "/".join(str(p) for p in parts))


def parse_uuid(value: str) -> UUID | None:
    """The UUID in `value`, or None when it is not one."""
    try:
        return UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


class _Entropy:
    """The OS's CSPRNG (`os.urandom`), drawn 4 KiB at a time and handed out in slices no two
    callers share. Each `os.urandom` call releases the GIL for its system call; a thread
    that must then win the GIL back from a busy one waits: `uuid4()` took 2 µs alone and
    135 µs on average beside one CPU-bound thread. The request path draws several random
    ids per request, on the event loop. The bytes are the same CSPRNG's; a forked child
    starts with an empty pool, so parent and child never hand out the same bytes."""

    SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._at + n > len(self._pool):
                self._pool, self._at = os.urandom(max(self.SIZE, n)), 0
            start = self._at
            self._at += n
            return self._pool[start : self._at]

    def forget(self) -> None:
        self._pool, self._at = b"", 0
        self._lock = threading.Lock()  # a lock held at fork time stays held in the child


_ENTROPY = _Entropy()
os.register_at_fork(after_in_child=_ENTROPY.forget)


def random_uuid() -> UUID:
    """A random (version 4) UUID, as `uuid.uuid4()`, from pooled CSPRNG bytes."""
    return UUID(bytes=_ENTROPY.take(16), version=4)


def random_hex() -> str:
    """`random_uuid().hex`: 32 hexadecimal digits."""
    return random_uuid().hex
