"""One active instance per projector: PostgreSQL advisory locks, or file locks when embedded."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Protocol

import psycopg

from infra.sql.database import Database

FRESH_ABSENCE = 0.05  # seconds a cached "no process holds this lock" is trusted
KEEPALIVES = "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"


class InstanceLock(Protocol):
    """A lock held for as long as this process runs the projector."""

    def try_acquire(self) -> bool: ...

    def is_held(self) -> bool: ...

    def release(self) -> None: ...

    def has_owner(self) -> bool:
        """Whether some live process (this one included) holds the lock."""
        ...


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `pg_try_advisory_lock`."""
    return int.from_bytes(hashlib.sha256(f"tilde:{name}".encode()).digest()[:8], "big", signed=True)


class PostgresLockSession:
    """One connection holding every advisory lock of this process: a process costs one
    connection for all its locks, and they all die with it (kill -9 included)."""

    def __init__(self, url: str, application_name: str, *, ping_every: float = 1.0) -> None:
        self.url = url
        self.application_name = application_name
        self.ping_every = ping_every
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._held: set[int] = set()
        self._pinged = 0.0
        self._mutex = threading.Lock()

    def try_lock(self, key: int) -> bool:
        with self._mutex:
            if self._alive() and key in self._held:
                return True
            try:
                if self._conn is None:
                    self._conn = psycopg.connect(
                        self.url,
                        autocommit=True,
                        connect_timeout=2,
                        application_name=self.application_name,
                        # A vanished host (not just a killed process) must lose its locks
                        # within seconds too: the server probes this session's socket.
                        options=KEEPALIVES,
                    )
                    self._pinged = time.monotonic()
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            except psycopg.Error:
                self._drop()
                return False
            if row and row[0]:
                self._held.add(key)
                return True
            return False

    def holds(self, key: int) -> bool:
        with self._mutex:
            return key in self._held and self._alive()

    def unlock(self, key: int) -> None:
        with self._mutex:
            if key not in self._held:
                return
            self._held.discard(key)
            if self._conn is not None:
                try:
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                except psycopg.Error:
                    self._drop()

    def close(self) -> None:
        with self._mutex:
            self._drop()

    def _alive(self) -> bool:
        """The connection answers (checked at most every `ping_every` s: the projectors ask
        on every loop). A lost connection lost every lock with it."""
        if self._conn is None:
            return False
        now = time.monotonic()
        if now - self._pinged < self.ping_every:
            return True
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            self._drop()
            return False
        self._pinged = now
        return True

    def _drop(self) -> None:
        self._held.clear()
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


class PostgresLockOwners:
    """Which advisory locks any session of this database holds (pg_locks), cached `ttl`
    seconds: read-your-writes asks on every write whether a view has a live projector."""

    def __init__(self, db: Database, *, ttl: float = 1.0) -> None:
        self.db = db
        self.ttl = ttl
        self._keys: frozenset[int] = frozenset()
        self._read_at = -float("inf")

    def held(self, max_age: float | None = None) -> frozenset[int]:
        """The held keys, read again when older than `max_age` (default: the cache's ttl)."""
        if time.monotonic() - self._read_at >= (self.ttl if max_age is None else max_age):
            rows = self.db.query(
                "SELECT classid, objid FROM pg_locks WHERE locktype = 'advisory'"
                " AND objsubid = 1 AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            keys = set()
            for r in rows:
                unsigned = (int(r["classid"]) << 32) | int(r["objid"])
                keys.add(unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned)
            self._keys = frozenset(keys)
            self._read_at = time.monotonic()
        return self._keys


class PostgresAdvisoryLock:
    """A session-level advisory lock on the process's lock session."""

    def __init__(self, session: PostgresLockSession, owners: PostgresLockOwners, name: str) -> None:
        self.session = session
        self.owners = owners
        self.name = name
        self.key = lock_key(name)

    def try_acquire(self) -> bool:
        return self.session.try_lock(self.key)

    def is_held(self) -> bool:
        return self.session.holds(self.key)

    def release(self) -> None:
        self.session.unlock(self.key)

    def has_owner(self) -> bool:
        # A cached "held" is good for `ttl`; a "not held" is re-read when older than
        # FRESH_ABSENCE, so a lock taken moments ago is seen before a write skips its wait.
        return (
            self.is_held()
            or self.key in self.owners.held()
            or self.key in self.owners.held(max_age=FRESH_ABSENCE)
        )


class FileLock:
    """An exclusive `flock` on a file in the data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def is_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def has_owner(self) -> bool:
        if self._fd is not None:
            return True
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a probe: released at once
        except OSError:
            return True
        finally:
            os.close(fd)
        return False
