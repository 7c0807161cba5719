"""One active instance per projector: PostgreSQL advisory locks, or file locks when embedded."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path
from typing import Protocol

import psycopg


class InstanceLock(Protocol):
    """A lock held for as long as this process runs the projector."""

    def try_acquire(self) -> bool: ...

    def is_held(self) -> bool: ...

    def release(self) -> None: ...


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `pg_try_advisory_lock`."""
    return int.from_bytes(hashlib.sha256(f"tilde:{name}".encode()).digest()[:8], "big", signed=True)


class PostgresAdvisoryLock:
    """Session-level advisory lock on a dedicated connection (dies with the process)."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.key = lock_key(name)
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def try_acquire(self) -> bool:
        if self.is_held():
            return True
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.Error:
            return False
        if row and row[0]:
            self._conn = conn
            return True
        conn.close()
        return False

    def is_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            self.release()
            return False

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


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
