"""`TerminalLeases` on the database every API process shares: one row per attached terminal.

Acquiring is one upsert that only takes over an expired row, so two processes racing for the
same sandbox cannot both win (on PostgreSQL the conflicting insert waits for the other's row
lock; on SQLite writers are serialized). The holder renews its row while its client stays
attached and deletes it when the client leaves; a row whose API process died lapses `ttl`
seconds after its last renewal."""

from __future__ import annotations

import time
from collections.abc import Callable

from infra.sql.database import Database

TABLE = "sandbox_terminal_leases"


class SqlTerminalLeases:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        real = "DOUBLE PRECISION" if db.dialect == "postgresql" else "REAL"
        with db.transaction() as cur:
            if db.dialect == "postgresql":
                cur.execute("SELECT pg_advisory_xact_lock(7361928)")  # the schema lock
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (sandbox_id TEXT PRIMARY KEY,"
                f" holder TEXT NOT NULL, expires_at {real} NOT NULL)"
            )

    def acquire(self, sandbox_id: str, holder: str, ttl: float) -> bool:
        now = self.clock()
        with self.db.transaction() as cur:
            cur.execute(
                f"INSERT INTO {TABLE} (sandbox_id, holder, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (sandbox_id) DO UPDATE SET holder = excluded.holder,"
                f" expires_at = excluded.expires_at WHERE {TABLE}.expires_at < ?",
                (sandbox_id, holder, now + ttl, now),
            )
            row = cur.execute(
                f"SELECT holder FROM {TABLE} WHERE sandbox_id = ?", (sandbox_id,)
            ).fetchone()
        return row is not None and row["holder"] == holder

    def renew(self, sandbox_id: str, holder: str, ttl: float) -> bool:
        with self.db.transaction() as cur:
            cur.execute(
                f"UPDATE {TABLE} SET expires_at = ? WHERE sandbox_id = ? AND holder = ?",
                (self.clock() + ttl, sandbox_id, holder),
            )
            return int(cur.rowcount) == 1

    def release(self, sandbox_id: str, holder: str) -> None:
        with self.db.transaction() as cur:
            cur.execute(
                f"DELETE FROM {TABLE} WHERE sandbox_id = ? AND holder = ?", (sandbox_id, holder)
            )
