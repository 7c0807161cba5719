"""Identity write path and projections against a raw-driver baseline measured in the same run.

    python3 -m bench.identity [--quick] [--backend postgres|sqlite]

Measured on the server's own objects (`infra.bootstrap.bootstrap`):
  1. single-command latency: `identity.create_api_key` (one aggregate, one event);
  2. commands/s: the same command from N threads for a fixed duration;
  3. projector catch-up: K events appended with no projector running, then `catch_up()`;
  4. rebuild: `projections.rebuild([])` over the whole log;
  5. read-your-writes: with the background projectors running, `create_api_key` then
     `wait_for(result.written)` (total, and the wait alone).

Each has a baseline doing the same job with the raw driver (psycopg, or sqlite3 for the SQLite
backend); see bench/README.md. Results: a Markdown table on stdout and
bench/results/identity-<backend>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import queue
import secrets
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql

from bench.common import (
    RESULTS_DIR,
    Row,
    Stopwatch,
    Summary,
    Target,
    interleaved_latencies,
    load_average,
    machine,
    render_table,
    run_threads,
    write_json,
)
from infra.logging import configure_logging

warnings.filterwarnings("ignore", category=DeprecationWarning)

# ARCHITECTURE.md §8, "read-your-writes" row.
RYW_P50 = Target("<=", 5.0, "p50 ≤ 5 ms")
RYW_P99 = Target("<=", 20.0, "p99 ≤ 20 ms")
REBUILD = Target(">=", 20_000, "≥ 20,000 events/s")

BASELINE_TABLE = "bench_events"
BASELINE_VIEW = "bench_view"
BASELINE_TRACKING = "bench_tracking"
FOLD_BATCH = 500  # rows per baseline projector transaction (the runner's default batch size)


@dataclass(frozen=True)
class Config:
    latency_samples: int
    warmup: int
    threads: int
    duration: float
    events: int
    ryw_samples: int
    ryw_gap: float  # idle seconds between read-your-writes samples (requests arrive apart)

    @classmethod
    def full(cls) -> Config:
        return cls(1000, 50, 8, 10.0, 20_000, 1000, 0.005)

    @classmethod
    def quick(cls) -> Config:
        return cls(200, 20, 8, 3.0, 4_000, 200, 0.005)


def api_key_payload() -> bytes:
    """A JSON document shaped and sized like a stored `ApiKey.Created` (~425 bytes)."""
    owner = str(uuid.uuid4())
    return json.dumps(
        {
            "timestamp": {
                "_type_": "datetime_iso",
                "_data_": dt.datetime.now(dt.UTC).isoformat(),
            },
            "originator_topic": "domain.identity.api_key:ApiKey",
            "owner_type": "user",
            "owner_id": owner,
            "organization_id": "",
            "name": "bench",
            "description": "",
            "secret_hash": hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
            "token_hint": secrets.token_urlsafe(3),
            "actor_type": "user",
            "actor_id": owner,
        },
        separators=(",", ":"),
    ).encode()


PAYLOAD_TOPIC = "domain.identity.api_key:ApiKey.Created"


# -- the baselines ---------------------------------------------------------------------------
class Writer(Protocol):
    def insert(self) -> int: ...

    def close(self) -> None: ...


class Baseline(Protocol):
    """The raw-driver twin of each measured operation."""

    label: str

    def writer(self) -> Writer: ...

    def fold(self, start: int, stop: int) -> int: ...

    def reset_view(self, position: int) -> None: ...

    def commit_watcher(self) -> contextlib.AbstractContextManager[Callable[[], float]]: ...


class PgWriter:
    """One connection inserting like eventsourcing's default path: one pipelined transaction
    taking the table lock, notifying the channel, inserting, returning the notification id."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.cur = self.conn.cursor()

    def insert(self) -> int:
        with self.conn.pipeline(), self.conn.transaction():
            self.cur.execute("SET LOCAL lock_timeout = '5s'")
            self.cur.execute(f"LOCK TABLE {BASELINE_TABLE} IN EXCLUSIVE MODE")
            self.cur.execute(f"NOTIFY {BASELINE_TABLE}")
            self.cur.execute(
                f"INSERT INTO {BASELINE_TABLE} (originator_id, originator_version, topic, state)"
                " VALUES (%s, 1, %s, %s) RETURNING notification_id",
                (uuid.uuid4(), PAYLOAD_TOPIC, api_key_payload()),
            )
            row = self.cur.fetchone()
        assert row is not None
        return int(row[0])

    def close(self) -> None:
        self.conn.close()


class PgBaseline:
    label = "raw psycopg"

    def __init__(self, url: str, events_table: sql.Composable) -> None:
        self.url = url
        self.events_table = events_table
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {BASELINE_TABLE} ("
                " originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
                " topic text, state bytea, notification_id bigserial,"
                " PRIMARY KEY (originator_id, originator_version))"
            )
            conn.execute(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {BASELINE_TABLE}_nid"
                f" ON {BASELINE_TABLE} (notification_id)"
            )
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {BASELINE_VIEW} ("
                " notification_id bigint PRIMARY KEY, originator_id text NOT NULL,"
                " originator_version bigint NOT NULL, topic text NOT NULL, fields int NOT NULL)"
            )
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {BASELINE_TRACKING} ("
                " name text PRIMARY KEY, position bigint NOT NULL)"
            )
            conn.execute(
                f"INSERT INTO {BASELINE_TRACKING} VALUES ('bench', 0) ON CONFLICT DO NOTHING"
            )

    def writer(self) -> PgWriter:
        return PgWriter(self.url)

    def reset_view(self, position: int) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn, conn.transaction():
            conn.execute(f"TRUNCATE {BASELINE_VIEW}")
            conn.execute(f"UPDATE {BASELINE_TRACKING} SET position = %s", (position,))

    def fold(self, start: int, stop: int) -> int:
        """Read log rows (start, stop] in batches; per batch, one transaction writes a row per
        event (executemany, pipelined by psycopg) and advances the tracking position."""
        select = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM {} WHERE notification_id > %s AND notification_id <= %s"
            " ORDER BY notification_id LIMIT %s"
        ).format(self.events_table)
        folded = 0
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.cursor()
            position = start
            while position < stop:
                rows = cur.execute(select, (position, stop, FOLD_BATCH)).fetchall()
                new_position = stop if len(rows) < FOLD_BATCH else rows[-1][0]
                params = [(r[0], str(r[1]), r[2], r[3], len(json.loads(r[4]))) for r in rows]
                with conn.transaction():
                    cur.executemany(
                        f"INSERT INTO {BASELINE_VIEW} VALUES (%s, %s, %s, %s, %s)", params
                    )
                    cur.execute(
                        f"UPDATE {BASELINE_TRACKING} SET position = %s"
                        " WHERE name = 'bench' AND position = %s",
                        (new_position, position),
                    )
                folded += len(rows)
                position = new_position
        return folded

    @contextlib.contextmanager
    def commit_watcher(self) -> Iterator[Callable[[], float]]:
        """A LISTEN connection on its own thread; yields `next_notification()` → the
        perf_counter() at which the next NOTIFY of the baseline channel arrived."""
        arrivals: queue.SimpleQueue[float] = queue.SimpleQueue()
        stop = threading.Event()
        conn = psycopg.connect(self.url, autocommit=True)
        conn.execute(f"LISTEN {BASELINE_TABLE}")

        def listen() -> None:
            while not stop.is_set():
                for _ in conn.notifies(timeout=0.2):
                    arrivals.put(time.perf_counter())

        thread = threading.Thread(target=listen, name="bench-listen", daemon=True)
        thread.start()

        def next_notification() -> float:
            return arrivals.get(timeout=5)

        try:
            yield next_notification
        finally:
            stop.set()
            thread.join(timeout=5)
            conn.close()


class SqliteWriter:
    """One connection inserting like eventsourcing's SQLite recorder (WAL, default sync).
    Writers of the process take turns on a lock, as the recorder's do, instead of spinning
    in SQLite's busy handler."""

    def __init__(self, path: Path, lock: threading.Lock) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
        self.lock = lock

    def insert(self) -> int:
        payload = api_key_payload()
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                cur = self.conn.execute(
                    f"INSERT INTO {BASELINE_TABLE} VALUES (?, 1, ?, ?)",
                    (uuid.uuid4().hex, PAYLOAD_TOPIC, payload),
                )
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        return int(cur.lastrowid or 0)

    def close(self) -> None:
        self.conn.close()


class SqliteBaseline:
    label = "raw sqlite3"

    def __init__(self, directory: Path, events_file: Path, events_table: str) -> None:
        self.events_path = directory / "bench-events.sqlite"
        self.view_path = directory / "bench-view.sqlite"
        self.log_path = events_file
        self.log_table = events_table
        self.write_lock = threading.Lock()
        with contextlib.closing(sqlite3.connect(self.events_path, isolation_level=None)) as c:
            c.execute("PRAGMA journal_mode=WAL")
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {BASELINE_TABLE} (originator_id TEXT,"
                " originator_version INTEGER, topic TEXT, state BLOB,"
                " PRIMARY KEY (originator_id, originator_version))"
            )
        with contextlib.closing(self._view()) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {BASELINE_VIEW} (notification_id INTEGER PRIMARY"
                " KEY, originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL,"
                " topic TEXT NOT NULL, fields INTEGER NOT NULL)"
            )
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {BASELINE_TRACKING} ("
                " name TEXT PRIMARY KEY, position INTEGER NOT NULL)"
            )
            c.execute(f"INSERT OR IGNORE INTO {BASELINE_TRACKING} VALUES ('bench', 0)")

    def _view(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.view_path, isolation_level=None, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # as infra.sql.database.SqliteDatabase
        return conn

    def writer(self) -> SqliteWriter:
        return SqliteWriter(self.events_path, self.write_lock)

    def reset_view(self, position: int) -> None:
        with contextlib.closing(self._view()) as c:
            c.execute("BEGIN IMMEDIATE")
            c.execute(f"DELETE FROM {BASELINE_VIEW}")
            c.execute(f"UPDATE {BASELINE_TRACKING} SET position = ?", (position,))
            c.execute("COMMIT")

    def fold(self, start: int, stop: int) -> int:
        select = (
            "SELECT rowid, originator_id, originator_version, topic, state"
            f" FROM {self.log_table} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
        )
        folded = 0
        with (
            contextlib.closing(sqlite3.connect(self.log_path, timeout=10)) as log,
            contextlib.closing(self._view()) as view,
        ):
            position = start
            while position < stop:
                rows = log.execute(select, (position, stop, FOLD_BATCH)).fetchall()
                new_position = stop if len(rows) < FOLD_BATCH else rows[-1][0]
                params = [(r[0], r[1], r[2], r[3], len(json.loads(r[4]))) for r in rows]
                view.execute("BEGIN IMMEDIATE")
                view.executemany(f"INSERT INTO {BASELINE_VIEW} VALUES (?, ?, ?, ?, ?)", params)
                view.execute(
                    f"UPDATE {BASELINE_TRACKING} SET position = ?"
                    " WHERE name = 'bench' AND position = ?",
                    (new_position, position),
                )
                view.execute("COMMIT")
                folded += len(rows)
                position = new_position
        return folded

    @contextlib.contextmanager
    def commit_watcher(self) -> Iterator[Callable[[], float]]:
        """SQLite has no LISTEN: another connection polls the log head every 1 ms (what the
        architecture prescribes for SQLite followers)."""
        arrivals: queue.SimpleQueue[float] = queue.SimpleQueue()
        stop = threading.Event()

        def poll() -> None:
            with contextlib.closing(sqlite3.connect(self.events_path, timeout=10)) as conn:
                head = conn.execute(f"SELECT MAX(rowid) FROM {BASELINE_TABLE}").fetchone()[0]
                while not stop.is_set():
                    now = conn.execute(f"SELECT MAX(rowid) FROM {BASELINE_TABLE}").fetchone()[0]
                    if now != head:
                        arrivals.put(time.perf_counter())
                        head = now
                    time.sleep(0.001)

        thread = threading.Thread(target=poll, name="bench-poll", daemon=True)
        thread.start()
        try:
            yield lambda: arrivals.get(timeout=5)
        finally:
            stop.set()
            thread.join(timeout=5)


# -- the server side -------------------------------------------------------------------------
class Tilde:
    """The composition root under test, with one approved user who owns the keys."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        from domain.shared.values import Actor
        from infra.bootstrap import bootstrap
        from infra.crypto.passwords import Argon2PasswordHasher
        from infra.settings import Settings

        self.settings = Settings(
            data_dir=data_dir, database_url=database_url, secret_key="bench", log_level="WARNING"
        )
        self.container = bootstrap(
            self.settings, hasher=Argon2PasswordHasher(time_cost=1, memory_cost=1024)
        )
        identity = self.container.identity
        user = identity.signup(
            username="bench",
            email="bench@example.com",
            full_name="Bench Mark",
            password="correct-horse-battery-staple",
        ).value
        identity.approve("bench", Actor.operator())
        self.user_id = str(user.id)
        self.actor = Actor("user", self.user_id)
        self.keys = 0
        self._lock = threading.Lock()

    @property
    def app(self) -> Any:
        return self.container.identity

    def head(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)

    def other_logs(self) -> dict[str, int]:
        """Events in the other applications' logs (the benchmark writes none)."""
        return {
            name: int(app.recorder.max_notification_id() or 0)
            for name, app in self.container.applications.items()
            if name != self.app.name
        }

    def create_key(self) -> Any:
        result = self.app.create_api_key(
            owner_type="user", owner_id=self.user_id, name="bench", actor=self.actor
        )
        with self._lock:
            self.keys += 1
        return result

    def append_used_keys(self, events: int, *, per_save: int = 500) -> int:
        """`events` ApiKey.Created + ApiKey.Used events, `per_save` events per `save()`."""
        from domain.identity.api_key import ApiKey

        keys_per_save = max(1, per_save // 2)
        remaining = events // 2
        appended = 0
        while remaining > 0:
            batch = []
            for _ in range(min(keys_per_save, remaining)):
                key, _token = ApiKey.issue(
                    key_id=uuid.uuid4(),
                    owner_type="user",
                    owner_id=self.user_id,
                    organization_id="",
                    name="bulk",
                    description="",
                    secret=secrets.token_urlsafe(32),
                    actor=self.actor,
                )
                key.note_used(dt.datetime.now(dt.UTC))
                batch.append(key)
            self.app.save(*batch)
            self.keys += len(batch)
            remaining -= len(batch)
            appended += 2 * len(batch)
        return appended

    def api_keys_fingerprint(self) -> tuple[int, str]:
        """Rows and a digest of the api_keys view (rebuilt must equal incrementally built)."""
        rows = self.container.db.query(
            "SELECT id, owner_id, name, created_at, last_used_at, revoked_at"
            " FROM api_keys ORDER BY id"
        )
        digest = hashlib.sha256(repr([tuple(r.values()) for r in rows]).encode()).hexdigest()
        return len(rows), digest[:16]

    def events_table(self) -> sql.Composable:
        recorder = self.app.recorder
        return sql.Identifier(recorder.datastore.schema, recorder.events_table_name)

    def close(self) -> None:
        self.container.close()


# -- the measurements ------------------------------------------------------------------------
def ms(seconds: float) -> float:
    return seconds * 1e3


def measure_single_command(tilde: Tilde, base: Baseline, cfg: Config) -> list[Row]:
    writer = base.writer()
    try:
        samples = interleaved_latencies(
            {"tilde": tilde.create_key, "base": writer.insert},
            cfg.latency_samples,
            warmup=cfg.warmup,
        )
    finally:
        writer.close()
    t, b = Summary.of(samples["tilde"]), Summary.of(samples["base"])
    detail = {"tilde": t.as_ms(), "baseline": b.as_ms()}
    return [
        Row("create_api_key latency p50", "ms", ms(t.p50), ms(b.p50), detail=detail),
        Row("create_api_key latency p99", "ms", ms(t.p99), ms(b.p99), detail=detail),
    ]


def measure_commands_per_second(tilde: Tilde, base: Baseline, cfg: Config) -> list[Row]:
    t = run_threads(lambda _i: tilde.create_key, threads=cfg.threads, duration=cfg.duration)
    writers: list[Writer] = []

    def open_writer(_i: int) -> Callable[[], int]:
        w = base.writer()
        writers.append(w)
        return w.insert

    try:
        b = run_threads(open_writer, threads=cfg.threads, duration=cfg.duration)
    finally:
        for w in writers:
            w.close()
    return [
        Row(
            f"create_api_key commands/s ({cfg.threads} threads)",
            "/s",
            t.per_second,
            b.per_second,
            detail={"tilde": asdict(t), "baseline": asdict(b)},
        )
    ]


def _rate(events: int, seconds: float) -> float:
    return events / seconds if seconds > 0 else float("nan")


def measure_catch_up(tilde: Tilde, base: Baseline, cfg: Config) -> tuple[list[Row], dict]:
    projections = tilde.container.projections
    projections.catch_up()  # fold what earlier phases wrote: start from a caught-up state
    before = tilde.head()
    with Stopwatch() as append:
        appended = tilde.append_used_keys(cfg.events)
    head = tilde.head()
    with Stopwatch() as sw:
        projections.catch_up()
    catch_up_rows, catch_up_digest = tilde.api_keys_fingerprint()

    base.reset_view(before)
    with Stopwatch() as bw:
        folded = base.fold(before, head)
    assert folded == head - before, (folded, head - before)
    events = head - before
    detail = {
        "events": events,
        "tilde_seconds": sw.seconds,
        "baseline_seconds": bw.seconds,
        "append_events_per_second": _rate(appended, append.seconds),
        "views": sorted(projections.runners),
    }
    row = Row(
        f"projector catch-up events/s ({events:,} events)",
        "/s",
        _rate(events, sw.seconds),
        _rate(events, bw.seconds),
        detail=detail,
    )
    checks = {
        "api_keys_rows_after_catch_up": catch_up_rows,
        "api_keys_expected": tilde.keys,
        "catch_up_digest": catch_up_digest,
    }
    return [row], checks


def measure_rebuild(tilde: Tilde, base: Baseline, cfg: Config) -> tuple[list[Row], dict]:
    head = tilde.head()
    with Stopwatch() as sw:
        report = tilde.container.projections.rebuild([])
    rebuilt_rows, rebuilt_digest = tilde.api_keys_fingerprint()
    with Stopwatch() as bw:
        base.reset_view(0)
        folded = base.fold(0, head)
    assert folded == head, (folded, head)
    row = Row(
        f"rebuild events/s ({head:,} events)",
        "/s",
        _rate(head, sw.seconds),
        _rate(head, bw.seconds),
        target=REBUILD,
        detail={
            "events": head,
            "tilde_seconds": sw.seconds,
            "baseline_seconds": bw.seconds,
            "other_application_events": tilde.other_logs(),
            "views": report,
        },
    )
    return [row], {"api_keys_rows_after_rebuild": rebuilt_rows, "rebuild_digest": rebuilt_digest}


def measure_read_your_writes(tilde: Tilde, base: Baseline, cfg: Config) -> list[Row]:
    container = tilde.container
    writer = base.writer()
    samples: dict[str, list[float]] = {"total": [], "wait": [], "base_total": [], "base_wait": []}
    container.start_background()
    try:
        with base.commit_watcher() as next_arrival:
            time.sleep(0.2)  # let projectors take their locks and settle
            for i in range(cfg.warmup + cfg.ryw_samples):
                keep = i >= cfg.warmup
                started = time.perf_counter()
                result = tilde.create_key()
                written = time.perf_counter()
                if not container.wait_for(result.written, timeout=5):
                    raise RuntimeError("read-your-writes wait timed out")
                done = time.perf_counter()
                if keep:
                    samples["total"].append(done - started)
                    samples["wait"].append(done - written)
                time.sleep(cfg.ryw_gap)

                started = time.perf_counter()
                writer.insert()
                committed = time.perf_counter()
                arrived = next_arrival()
                if keep:
                    samples["base_total"].append(max(arrived, committed) - started)
                    samples["base_wait"].append(max(0.0, arrived - committed))
                time.sleep(cfg.ryw_gap)
    finally:
        container.stop_background()
        writer.close()
    s = {name: Summary.of(values) for name, values in samples.items()}
    detail = {name: summary.as_ms() for name, summary in s.items()}
    return [
        Row("read-your-writes total p50", "ms", ms(s["total"].p50), ms(s["base_total"].p50),
            RYW_P50, detail),
        Row("read-your-writes total p99", "ms", ms(s["total"].p99), ms(s["base_total"].p99),
            RYW_P99, detail),
        Row("read-your-writes wait p50", "ms", ms(s["wait"].p50), ms(s["base_wait"].p50),
            RYW_P50, detail),
        Row("read-your-writes wait p99", "ms", ms(s["wait"].p99), ms(s["base_wait"].p99),
            RYW_P99, detail),
    ]  # fmt: skip


# -- running ---------------------------------------------------------------------------------
@contextlib.contextmanager
def environment(backend: str) -> Iterator[tuple[Tilde, Baseline]]:
    """A fresh store (a new PostgreSQL database, or SQLite files) with tilde and a baseline."""
    from infra.eventstore.environment import application_env

    tmp = Path(tempfile.mkdtemp(prefix="tilde-bench-"))
    url = ""
    tilde: Tilde | None = None
    try:
        if backend == "postgres":
            from tests import services

            url = services.create_database()
            tilde = Tilde(tmp / "data", url)
            base: Baseline = PgBaseline(url, tilde.events_table())
        else:
            tilde = Tilde(tmp / "data", "")
            events_file = Path(application_env(tilde.settings, "identity")["SQLITE_DBNAME"])
            base = SqliteBaseline(tmp, events_file, tilde.app.recorder.events_table_name)
        yield tilde, base
    finally:
        if tilde is not None:
            tilde.close()
        if url:
            from tests import services

            services.drop_database(url)
        shutil.rmtree(tmp, ignore_errors=True)


def run(backend: str, cfg: Config, *, log: Callable[[str], None]) -> dict[str, Any]:
    rows: list[Row] = []
    checks: dict[str, Any] = {}
    with environment(backend) as (tilde, base):
        log(f"single-command latency: {cfg.latency_samples} samples each…")
        rows += measure_single_command(tilde, base, cfg)
        log(f"commands/s: {cfg.threads} threads x {cfg.duration:.0f} s each…")
        rows += measure_commands_per_second(tilde, base, cfg)
        log(f"projector catch-up: {cfg.events:,} events…")
        more, found = measure_catch_up(tilde, base, cfg)
        rows += more
        checks.update(found)
        log("rebuild…")
        more, found = measure_rebuild(tilde, base, cfg)
        rows += more
        checks.update(found)
        log(f"read-your-writes: {cfg.ryw_samples} samples each…")
        rows += measure_read_your_writes(tilde, base, cfg)
        label = base.label
    checks["rebuilt_equals_incremental"] = checks["catch_up_digest"] == checks["rebuild_digest"]
    checks["api_keys_complete"] = (
        checks["api_keys_rows_after_catch_up"] == checks["api_keys_expected"]
    )
    return {"rows": rows, "checks": checks, "baseline": label}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.identity", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter runs")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument(
        "--output", type=Path, default=None, help="JSON file (default bench/results/…)"
    )
    args = parser.parse_args(argv)
    cfg = Config.quick() if args.quick else Config.full()
    configure_logging("WARNING", "console")  # keep the outbox sender's info lines off stdout

    def log(message: str) -> None:
        print(f"… {message}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    load_before = load_average()
    outcome = run(args.backend, cfg, log=log)
    rows: list[Row] = outcome["rows"]
    info = {**machine(), "load_average_1m": [load_before, load_average()]}
    print(
        f"\nidentity benchmark — backend {args.backend}{' (quick)' if args.quick else ''}, "
        f"{info['cpus']} CPUs, Python {info['python']}, "
        f"{time.perf_counter() - started:.0f} s, "
        f"load average {load_before:.2f} → {info['load_average_1m'][1]:.2f}\n"
    )
    print(render_table(rows, outcome["baseline"]))
    print(
        "\nratio = tilde ÷ baseline (latency: times slower than raw; rate: fraction of raw "
        "speed). Targets: ARCHITECTURE.md §8."
    )
    checks = outcome["checks"]
    print("checks: " + ", ".join(f"{k}={v}" for k, v in checks.items()))
    path = args.output or RESULTS_DIR / f"identity-{args.backend}.json"
    write_json(
        path,
        {
            "benchmark": "identity",
            "backend": args.backend,
            "quick": args.quick,
            "baseline": outcome["baseline"],
            "config": asdict(cfg),
            "machine": info,
            "rows": [r.as_dict() for r in rows],
            "checks": checks,
        },
    )
    print(f"results: {path}")
    failed = not checks["rebuilt_equals_incremental"] or not checks["api_keys_complete"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
