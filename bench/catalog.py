"""The versioned catalog against baselines measured in the same run (ARCHITECTURE.md §5, §8).

    python3 -m bench.catalog [--quick] [--backend postgres|sqlite] [--objects N]

Catalog layer (the server's own objects from `infra.bootstrap.bootstrap`, no HTTP):
  1. commit of 10 changes (`catalog.commit` after staging 10 puts) in a repository of
     N = 1,000 and of N = --objects committed objects, and the ratio of the two;
  2. commit of 100,000 staged changes (20,000 with --quick);
  3. first page of 1,000: listing at the head (flat and with delimiter "/"), and a diff page
     between two commits that differ by 1,000 paths, at both sizes.
Live server (`tilde-server serve` in a child process, the official SDK in this one):
  4. PUT + upload + finalize of small objects through the SDK from 8 threads;
  5. GET object (307) from 16 threads without following the redirect;
  6. 1 GiB (128 MiB with --quick) upload and download through the local blob store.

Every tilde number stands beside a baseline of the same job (raw psycopg or sqlite3 on tables
of the same shape and size, a bare ASGI server speaking the same HTTP, or `shutil.copyfile`);
see bench/README.md. Results: a Markdown table on stdout and bench/results/catalog-<backend>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import math
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.common import (
    RESULTS_DIR,
    Row,
    Stopwatch,
    Summary,
    Target,
    Throughput,
    machine,
    render_table,
    run_threads,
    write_json,
)

warnings.filterwarnings("ignore", category=DeprecationWarning)

# ARCHITECTURE.md §8.
COMMIT_P50 = Target("<=", 30.0, "p50 ≤ 30 ms")
COMMIT_SCALING = Target("<=", 150.0, "≤ 150% (1.5x)")
LARGE_COMMIT = Target("<=", 20_000.0, "≤ 20 s")
LARGE_RATE = Target(">=", 5_000.0, "≥ 5,000/s")
PAGE_P95 = Target("<=", 50.0, "p95 ≤ 50 ms")
# §8 says "diff cost proportional to churn, flat in N"; 1.5x is borrowed from the commit row.
DIFF_FLAT = Target("<=", 150.0, "flat in N (≤ 150%)")
PUTS = Target(">=", 400.0, "≥ 400/s")
GETS = Target(">=", 1_000.0, "≥ 1,000/s")
READ_SHARE = 0.8  # downloads at ≥ 80 % of a raw local copy

INF = 9223372036854775807  # projections.catalog.catalog.INF: valid_to of head versions
SMALL_N = 1_000
PAGE = 1_000
DIFF_CHURN = 1_000
BUILD_COMMIT = 100_000  # the big repository is built in commits of at most this many objects
ETAG = "0" * 32
OCTETS = "application/octet-stream"
MiB = 1 << 20
ENTRY = "path, address, size, etag, content_type, metadata, last_modified, source_metadata"
BASE_TABLES = ("catalog_entries", "catalog_changes", "catalog_commits", "catalog_staged")


@dataclass(frozen=True)
class Config:
    objects: int
    commit_samples: int
    warmup: int
    large_commit: int
    page_samples: int
    put_threads: int
    put_seconds: float
    get_threads: int
    get_seconds: float
    blob_mib: int
    blob_repeat: int

    @classmethod
    def full(cls, objects: int | None) -> Config:
        return cls(objects or 1_000_000, 200, 10, 100_000, 100, 8, 15.0, 16, 10.0, 1024, 2)

    @classmethod
    def quick(cls, objects: int | None) -> Config:
        return cls(objects or 100_000, 40, 5, 20_000, 30, 8, 5.0, 16, 4.0, 128, 1)


def ms(seconds: float) -> float:
    return seconds * 1e3


def log(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def layout(n: int, tag: str = "") -> list[str]:
    """n paths in ⌈√n⌉ directories of ⌈√n⌉ files: 1,000 x 1,000 for a million (the root's
    delimiter listing is a full page of directories)."""
    per = max(1, math.ceil(math.sqrt(n)))
    return [f"{tag}d{i // per:05d}/f{i % per:05d}.bin" for i in range(n)]


def entry(path: str, version: str, now: str) -> dict[str, Any]:
    from domain.catalog.staging import staged_put

    return staged_put(
        path,
        address=f"bench/{version}/{path}",
        size=1024,
        etag=ETAG,
        content_type=OCTETS,
        metadata={},
        last_modified=now,
    )


def same_shard_batches(paths: Sequence[str], size: int = 1000) -> Iterator[list[str]]:
    """Batches of up to `size` paths that land in one staging shard: one `stage()` call is
    then one save of one `ObjectsStaged` event."""
    from domain.catalog.session import SHARDS
    from domain.catalog.staging import shard_of

    buckets: dict[int, list[str]] = {}
    for path in paths:
        bucket = buckets.setdefault(shard_of(path, SHARDS), [])
        bucket.append(path)
        if len(bucket) == size:
            yield bucket
            buckets[shard_of(path, SHARDS)] = []
    for bucket in buckets.values():
        if bucket:
            yield bucket


# -- raw driver --------------------------------------------------------------------------
class Raw:
    """One raw connection (psycopg or sqlite3) speaking `?` placeholders; tuple rows."""

    def __init__(self, backend: str, target: str) -> None:
        self.pg = backend == "postgres"
        if self.pg:
            self.conn: Any = psycopg.connect(target, autocommit=True)
        else:
            self.conn = sqlite3.connect(
                target, isolation_level=None, timeout=30, check_same_thread=False
            )
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")  # as infra.sql.database

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.pg:
            self.conn.cursor().executemany(self._sql(sql), rows)
        else:
            self.conn.executemany(sql, rows)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.execute(sql, params).fetchall())

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self.pg:
            with self.conn.transaction():
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def analyze(self, tables: Sequence[str]) -> None:
        """Fresh statistics and no dead rows, as autovacuum leaves them in a steady state
        (PostgreSQL: VACUUM ANALYZE; SQLite: ANALYZE)."""
        for table in tables:
            self.execute(f"{'VACUUM ANALYZE' if self.pg else 'ANALYZE'} {table}")

    def close(self) -> None:
        self.conn.close()


# -- phase A: the catalog layer ----------------------------------------------------------
@dataclass
class Repo:
    name: str
    id: str
    paths: list[str]
    diff: tuple[int, int] = (0, 0)  # (left, right) seqs 1,000 changed paths apart
    base_seq: int = 0  # the baseline's own head seq in bench_commits


@dataclass
class BuildReport:
    objects: int
    seconds: float
    stage_seconds: float
    commit_seconds: list[float] = field(default_factory=list)


class CatalogBench:
    """The catalog application and its inline tables, driven in this process."""

    def __init__(self, container: Any, backend: str) -> None:
        from application.principal import Principal

        self.container = container
        self.cat = container.catalog
        self.db = container.catalog_db
        self.backend = backend
        self.principal = Principal("user", str(uuid.uuid4()), "bench", "bearer")
        self.org = str(uuid.uuid4())
        self.versions = itertools.count(1)

    def now(self) -> str:
        from domain.shared.values import stamp

        return stamp(self.cat.clock())

    def create(self, name: str) -> Repo:
        repo = self.cat.create_repository(
            self.org, name=name, settings={}, principal=self.principal
        ).value
        return Repo(name, str(repo.id), [])

    def session(self, repo: Repo) -> str:
        return str(self.cat.create_session(self.org, repo.name, self.principal).value.id)

    def stage(self, repo: Repo, sid: str, paths: Sequence[str], version: str) -> None:
        aggregate = self.cat.get_repository(self.org, repo.name)
        now = self.now()
        for batch in same_shard_batches(paths):
            entries = [entry(p, version, now) for p in batch]
            self.cat.stage(aggregate, sid, entries, self.principal.actor)

    def commit(self, repo: Repo, sid: str) -> int:
        outcome = self.cat.commit(
            self.org, repo.name, sid, message="bench", metadata={}, principal=self.principal
        ).value
        return int(outcome.seq)

    def build(self, repo: Repo, n: int, tag: str = "") -> BuildReport:
        """n objects staged through `catalog.stage` (1,000 per call) and committed in
        sessions of at most BUILD_COMMIT."""
        repo.paths = layout(n, tag)
        report = BuildReport(n, 0.0, 0.0)
        started = time.perf_counter()
        for start in range(0, n, BUILD_COMMIT):
            chunk = repo.paths[start : start + BUILD_COMMIT]
            sid = self.session(repo)
            with Stopwatch() as staging:
                self.stage(repo, sid, chunk, "v0")
            with Stopwatch() as committing:
                self.commit(repo, sid)
            report.stage_seconds += staging.seconds
            report.commit_seconds.append(committing.seconds)
            if n > BUILD_COMMIT:
                log(
                    f"  {start + len(chunk):,}/{n:,} objects "
                    f"(staged {len(chunk) / staging.seconds:,.0f}/s, "
                    f"commit {committing.seconds:.1f} s)"
                )
        report.seconds = time.perf_counter() - started
        return report

    def head_seq(self, repo: Repo) -> int:
        return int(self.cat.get_repository(self.org, repo.name).head_seq)

    def modify(self, repo: Repo, paths: Sequence[str]) -> int:
        sid = self.session(repo)
        self.stage(repo, sid, paths, f"v{next(self.versions)}")
        return self.commit(repo, sid)


class Baseline:
    """Tables shaped like the catalog's (same columns, keys and indexes), holding a copy of
    its rows, written and read with the raw driver."""

    def __init__(self, backend: str, target: str, dialect: str) -> None:
        from projections.catalog.catalog import CatalogView

        self.raw = Raw(backend, target)
        self.statements = [
            s.replace("catalog_", "bench_")
            for s in CatalogView().create_statements(dialect)
            if any(f" {t} " in s or f" {t}(" in s for t in BASE_TABLES)
        ]

    def copy_catalog(self) -> float:
        with Stopwatch() as sw:
            with self.raw.transaction():
                for table in BASE_TABLES:
                    self.raw.execute(f"DROP TABLE IF EXISTS {table.replace('catalog_', 'bench_')}")
                for statement in self.statements:
                    self.raw.execute(statement)
                for table in BASE_TABLES:
                    bench = table.replace("catalog_", "bench_")
                    self.raw.execute(f"INSERT INTO {bench} SELECT * FROM {table}")
            self.raw.analyze([t.replace("catalog_", "bench_") for t in BASE_TABLES])
        return sw.seconds

    def head_seq(self, repo_id: str) -> int:
        row = self.raw.all("SELECT MAX(seq) FROM bench_commits WHERE repository_id = ?", (repo_id,))
        return int(row[0][0] or 0)

    def _commit_row(self, repo_id: str, seq: int, changes: int) -> tuple[Any, ...]:
        return (
            repo_id,
            seq,
            uuid.uuid4().hex,
            "[]",
            "bench",
            "{}",
            "bench",
            "user",
            "bench",
            "2026-01-01T00:00:00Z",
            str(uuid.uuid4()),
            "session",
            changes,
        )

    def commit_small(self, repo: Repo, paths: Sequence[str], version: str) -> None:
        """Close k head rows, insert k rows and k change rows and one commit row (one
        transaction): the SQL a commit of k changes needs."""
        repo.base_seq += 1
        seq = repo.base_seq
        marks = ",".join("?" * len(paths))
        rows = [
            (repo.id, p, seq, INF, f"bench/{version}/{p}", 1024, ETAG, OCTETS, "{}", "now", None)
            for p in paths
        ]
        with self.raw.transaction():
            self.raw.execute(
                "UPDATE bench_entries SET valid_to = ? WHERE repository_id = ? AND valid_to = ?"
                f" AND path IN ({marks})",
                (seq, repo.id, INF, *paths),
            )
            self.raw.executemany(
                "INSERT INTO bench_entries (repository_id, path, valid_from, valid_to, address,"
                " size, etag, content_type, metadata, last_modified, source_metadata)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            self.raw.executemany(
                "INSERT INTO bench_changes (repository_id, seq, path, op) VALUES (?,?,?,?)",
                [(repo.id, seq, p, "put") for p in paths],
            )
            self.raw.execute(
                "INSERT INTO bench_commits VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                self._commit_row(repo.id, seq, len(paths)),
            )

    def stage_large(self, repo: Repo, paths: Sequence[str], session: str) -> None:
        rows = [
            (session, p, repo.id, "put", f"bench/L/{p}", 1024, ETAG, OCTETS, "{}", "now", None)
            for p in paths
        ]
        with self.raw.transaction():
            self.raw.executemany(
                "INSERT INTO bench_staged (session_id, path, repository_id, op, address, size,"
                " etag, content_type, metadata, last_modified, source_metadata)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )

    def commit_large(self, repo: Repo, session: str, changes: int) -> None:
        """The set-based commit of a session's staged rows (what the inline projection runs)."""
        repo.base_seq += 1
        seq = repo.base_seq
        columns = "address, size, etag, content_type, metadata, last_modified, source_metadata"
        with self.raw.transaction():
            self.raw.execute(
                "UPDATE bench_entries SET valid_to = ? WHERE repository_id = ? AND valid_to = ?"
                " AND path IN (SELECT path FROM bench_staged WHERE session_id = ?)",
                (seq, repo.id, INF, session),
            )
            self.raw.execute(
                f"INSERT INTO bench_entries (repository_id, path, valid_from, valid_to, {columns})"
                f" SELECT ?, path, ?, ?, {columns} FROM bench_staged"
                " WHERE session_id = ? AND op = 'put'",
                (repo.id, seq, INF, session),
            )
            self.raw.execute(
                "INSERT INTO bench_changes (repository_id, seq, path, op)"
                " SELECT ?, ?, path, op FROM bench_staged WHERE session_id = ?",
                (repo.id, seq, session),
            )
            self.raw.execute("DELETE FROM bench_staged WHERE session_id = ?", (session,))
            self.raw.execute(
                "INSERT INTO bench_commits VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                self._commit_row(repo.id, seq, changes),
            )

    def first_page(self, repo_id: str) -> int:
        """An index-range SELECT of one page of head entries."""
        rows = self.raw.all(
            f"SELECT {ENTRY} FROM catalog_entries WHERE repository_id = ? AND valid_to = ?"
            " AND path >= ? ORDER BY path LIMIT ?",
            (repo_id, INF, "", PAGE),
        )
        return len(rows)

    def close(self) -> None:
        self.raw.close()


def measure_commit10(
    bench: CatalogBench, base: Baseline, small: Repo, big: Repo, cfg: Config
) -> list[Row]:
    """Alternating samples: tilde small, tilde big, raw small, raw big (staging untimed)."""
    rng = random.Random(10)
    samples: dict[str, list[float]] = {k: [] for k in ("t_small", "t_big", "b_small", "b_big")}
    for i in range(cfg.warmup + cfg.commit_samples):
        for key, repo in (("small", small), ("big", big)):
            paths = sorted(rng.sample(repo.paths, 10))
            sid = bench.session(repo)
            bench.stage(repo, sid, paths, f"c{i}")
            started = time.perf_counter()
            bench.commit(repo, sid)
            elapsed = time.perf_counter() - started
            if i >= cfg.warmup:
                samples[f"t_{key}"].append(elapsed)
            paths = sorted(rng.sample(repo.paths, 10))
            started = time.perf_counter()
            base.commit_small(repo, paths, f"c{i}")
            elapsed = time.perf_counter() - started
            if i >= cfg.warmup:
                samples[f"b_{key}"].append(elapsed)
    s = {k: Summary.of(v) for k, v in samples.items()}
    detail = {k: v.as_ms() for k, v in s.items()}
    n_big = f"{len(big.paths):,}"
    rows = [
        Row(f"commit 10 changes p50, N={SMALL_N:,}", "ms", ms(s["t_small"].p50),
            ms(s["b_small"].p50), COMMIT_P50, detail),
        Row(f"commit 10 changes p99, N={SMALL_N:,}", "ms", ms(s["t_small"].p99),
            ms(s["b_small"].p99), None, detail),
        Row(f"commit 10 changes p50, N={n_big}", "ms", ms(s["t_big"].p50),
            ms(s["b_big"].p50), COMMIT_P50, detail),
        Row(f"commit 10 changes p99, N={n_big}", "ms", ms(s["t_big"].p99),
            ms(s["b_big"].p99), None, detail),
        Row(f"commit 10 p50: N={n_big} ÷ N={SMALL_N:,}", "%",
            100 * s["t_big"].p50 / s["t_small"].p50, 100 * s["b_big"].p50 / s["b_small"].p50,
            COMMIT_SCALING, detail),
    ]  # fmt: skip
    return rows


def measure_pages(
    bench: CatalogBench, base: Baseline, small: Repo, big: Repo, cfg: Config
) -> list[Row]:
    from projections.catalog import queries

    db = bench.db
    checks: dict[str, int] = {}

    def listing(repo: Repo, delimiter: str) -> Callable[[], None]:
        def go() -> None:
            fetch = queries.committed_fetch(db, repo.id, None, "")
            out = queries.listing(fetch, prefix="", delimiter=delimiter, after="", amount=PAGE)
            checks[f"list{delimiter or '-flat'}-{repo.name}"] = len(out)

        return go

    def diff(repo: Repo) -> Callable[[], None]:
        left, right = repo.diff

        def go() -> None:
            out = queries.diff_commits(db, repo.id, left, right, prefix="", after="", amount=PAGE)
            checks[f"diff-{repo.name}"] = len(out)

        return go

    def raw(repo: Repo) -> Callable[[], None]:
        return lambda: checks.__setitem__(f"raw-{repo.name}", base.first_page(repo.id))

    calls = {
        "flat_big": listing(big, ""),
        "delim_big": listing(big, "/"),
        "diff_big": diff(big),
        "diff_small": diff(small),
        "raw_big": raw(big),
        "raw_small": raw(small),
    }
    samples: dict[str, list[float]] = {k: [] for k in calls}
    for i in range(cfg.warmup + cfg.page_samples):
        for name, fn in calls.items():
            started = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - started
            if i >= cfg.warmup:
                samples[name].append(elapsed)
    p95 = {k: ms(percentile95(v)) for k, v in samples.items()}
    s = {k: Summary.of(v) for k, v in samples.items()}
    detail = {
        "ms": {k: {**v.as_ms(), "p95_ms": p95[k]} for k, v in s.items()},
        "rows_returned": checks,
    }
    n_big = f"{len(big.paths):,}"
    raw_p50, raw_p95 = ms(s["raw_big"].p50), p95["raw_big"]
    rows = [
        Row(f"list first page p50, N={n_big}", "ms", ms(s["flat_big"].p50), raw_p50, None,
            detail),
        Row(f"list first page p95, N={n_big}", "ms", p95["flat_big"], raw_p95, PAGE_P95, detail),
        Row(f"list page delimiter '/' p95, N={n_big}", "ms", p95["delim_big"], raw_p95,
            PAGE_P95, detail),
        Row(f"diff page (1,000 changed) p50, N={n_big}", "ms", ms(s["diff_big"].p50), raw_p50,
            None, detail),
        Row(f"diff page (1,000 changed) p95, N={n_big}", "ms", p95["diff_big"], raw_p95,
            PAGE_P95, detail),
        Row(f"diff page (1,000 changed) p95, N={SMALL_N:,}", "ms", p95["diff_small"],
            p95["raw_small"], PAGE_P95, detail),
        Row(f"diff p50: N={n_big} ÷ N={SMALL_N:,}", "%",
            100 * s["diff_big"].p50 / s["diff_small"].p50,
            100 * s["raw_big"].p50 / s["raw_small"].p50, DIFF_FLAT, detail),
    ]  # fmt: skip
    return rows


def percentile95(values: Sequence[float]) -> float:
    from bench.common import percentile

    return percentile(values, 95)


def measure_large_commit(bench: CatalogBench, base: Baseline, big: Repo, cfg: Config) -> list[Row]:
    """K modifications of existing paths: K rows closed, K inserted, K change rows."""
    k = min(cfg.large_commit, len(big.paths))
    paths = sorted(random.Random(7).sample(big.paths, k))
    sid = bench.session(big)
    with Stopwatch() as staging:
        bench.stage(big, sid, paths, "large")
    with Stopwatch() as tilde:
        bench.commit(big, sid)
    session = str(uuid.uuid4())
    base.stage_large(big, paths, session)
    with Stopwatch() as raw:
        base.commit_large(big, session, k)
    detail = {
        "changes": k,
        "tilde_seconds": tilde.seconds,
        "baseline_seconds": raw.seconds,
        "tilde_staging_seconds": staging.seconds,
        "tilde_staging_per_second": k / staging.seconds,
    }
    return [
        Row(f"commit of {k:,} staged changes", "ms", ms(tilde.seconds), ms(raw.seconds),
            LARGE_COMMIT if k == 100_000 else None, detail),
        Row(f"commit of {k:,} staged changes: changes/s", "/s", k / tilde.seconds,
            k / raw.seconds, LARGE_RATE, detail),
    ]  # fmt: skip


# -- phase B: a live server ----------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


@dataclass
class Usage:
    """CPU used during a phase: server process, this (client) process, the whole machine."""

    server_pid: int
    started: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    busy: tuple[float, float] = (0.0, 0.0)

    def __enter__(self) -> Usage:
        self.started = time.perf_counter()
        self.server_cpu = cpu_seconds(self.server_pid)
        self.client_cpu = time.process_time()
        self.busy = machine_busy()
        return self

    def __exit__(self, *exc: object) -> None:
        busy, total = machine_busy()
        self.result = {
            "wall_seconds": time.perf_counter() - self.started,
            "server_cpu_seconds": cpu_seconds(self.server_pid) - self.server_cpu,
            "client_cpu_seconds": time.process_time() - self.client_cpu,
            "machine_busy_share": (busy - self.busy[0]) / max(1.0, total - self.busy[1]),
        }


def echo_app(port: int) -> Callable[..., Any]:
    """A bare ASGI app answering the SDK's three upload requests, sessions, a 307 and
    /health with constant bodies: the HTTP floor of client + uvicorn on this machine."""

    async def app(
        scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        digest = hashlib.md5(usedforsecurity=False)
        more = True
        while more:
            message = await receive()
            digest.update(message.get("body", b""))
            more = message.get("more_body", False)
        method, path = scope["method"], scope["path"]
        status, headers, body = 200, [(b"content-type", b"application/json")], b"{}"
        if method == "POST" and path.endswith("/sessions"):
            status, body = 201, json.dumps({"session_id": str(uuid.uuid4())}).encode()
        elif method == "PUT" and path.endswith("/object"):
            url = f"http://127.0.0.1:{port}/_blob/{uuid.uuid4().hex}?sig=x"
            body = json.dumps({"upload_url": url, "upload_token": "t" * 200}).encode()
        elif method == "PUT" and path.startswith("/_blob/"):
            headers.append((b"etag", f'"{digest.hexdigest()}"'.encode()))
        elif method == "POST" and path.endswith("/object/finalize"):
            body = json.dumps({"path": "p", "etag": f'"{ETAG}"'}).encode()
        elif method == "GET" and path.endswith("/object"):
            status, body = 307, b""
            headers = [
                (b"location", f"http://127.0.0.1:{port}/_blob/x?sig={'s' * 64}".encode()),
                (b"cache-control", b"no-store"),
            ]
        elif path == "/health":
            body = b'{"status":"ok"}'
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def serve_echo(port: int) -> None:
    import uvicorn

    uvicorn.run(
        echo_app(port), host="127.0.0.1", port=port, log_config=None, access_log=False,
        timeout_keep_alive=30,
    )  # fmt: skip


@contextlib.contextmanager
def echo_server() -> Iterator[tuple[str, int]]:
    from tests import services

    port = services.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.catalog", "--echo", str(port)],
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    try:
        services.wait_port(port)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Live:
    """The served stack: URL, the owner's API key, organization and repository names."""

    url: str
    pid: int
    token: str
    org: str
    repo: str
    repo_id: str


def sdk_puts(
    url: str, token: str, org: str, repo: str, cfg: Config, tag: str
) -> tuple[Throughput, list[Any]]:
    """PUT+upload+finalize of 1 KiB objects from `put_threads` threads, each with its own
    `tilde.Client` and session; returns the rate and the sessions (to commit)."""
    import tilde

    clients: list[Any] = []
    sessions: list[Any] = []
    lock = threading.Lock()
    payload = os.urandom(1024)

    def worker(i: int) -> Callable[[], Any]:
        client = tilde.Client(endpoint_url=url, api_key=token)
        session = client.repository(f"{org}/{repo}").session()
        with lock:
            clients.append(client)
            sessions.append(session)
        counter = itertools.count()
        for _ in range(5):  # warm the connection and the server's caches
            session.objects.put(f"{tag}{i}/warm{next(counter)}", payload)
        return lambda: session.objects.put(f"{tag}{i}/obj{next(counter):07d}", payload)

    try:
        result = run_threads(worker, threads=cfg.put_threads, duration=cfg.put_seconds)
    finally:
        pass
    return result, list(zip(clients, sessions, strict=True))


def raw_puts(backend: str, target: str, cfg: Config) -> Throughput:
    """The rows tilde writes per finalized object, with the raw driver from the same number of
    threads: one transaction taking the events-table lock (as eventsourcing does), inserting
    an event row (~700-byte state) and upserting a staged row."""
    state = json.dumps({"entries": [entry("some/path/obj.bin", "v", "now")], "pad": "x" * 300})
    pg = backend == "postgres"
    setup = Raw(backend, target)
    events = (
        "CREATE TABLE IF NOT EXISTS bench_put_events (originator_id {uuid} NOT NULL,"
        " originator_version BIGINT NOT NULL, topic TEXT, state {blob},"
        " notification_id {serial}, PRIMARY KEY (originator_id, originator_version))"
    ).format(
        uuid="uuid" if pg else "TEXT",
        blob="bytea" if pg else "BLOB",
        serial="bigserial" if pg else "INTEGER",
    )
    setup.execute(events)
    setup.execute(
        "CREATE TABLE IF NOT EXISTS bench_put_staged (session_id TEXT NOT NULL, path TEXT NOT NULL,"
        " repository_id TEXT NOT NULL, op TEXT NOT NULL, address TEXT NOT NULL,"
        " size BIGINT NOT NULL, etag TEXT NOT NULL, content_type TEXT NOT NULL,"
        " metadata TEXT NOT NULL, last_modified TEXT NOT NULL, source_metadata TEXT,"
        " PRIMARY KEY (session_id, path))"
    )
    setup.close()
    conns: list[Raw] = []

    def worker(i: int) -> Callable[[], None]:
        raw = Raw(backend, target)
        conns.append(raw)
        session, counter = str(uuid.uuid4()), itertools.count()

        def op() -> None:
            n = next(counter)
            with raw.transaction():
                if pg:
                    raw.execute("LOCK TABLE bench_put_events IN EXCLUSIVE MODE")
                raw.execute(
                    "INSERT INTO bench_put_events (originator_id, originator_version, topic,"
                    " state) VALUES (?, ?, ?, ?)",
                    (str(uuid.uuid4()), 1, "domain.catalog.staging:StagingShard.Staged",
                     state.encode()),
                )  # fmt: skip
                raw.execute(
                    "INSERT INTO bench_put_staged VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT"
                    " (session_id, path) DO UPDATE SET address = excluded.address",
                    (session, f"t{i}/obj{n}", "repo", "put", f"a/{n}", 1024, ETAG, OCTETS,
                     "{}", "now", None),
                )  # fmt: skip

        return op

    try:
        return run_threads(worker, threads=cfg.put_threads, duration=cfg.put_seconds)
    finally:
        for raw in conns:
            raw.close()


def http_gets(url: str, path: str, params: Callable[[random.Random], dict[str, str]],
              headers: dict[str, str], expect: int, cfg: Config) -> Throughput:  # fmt: skip
    clients: list[httpx.Client] = []

    def worker(i: int) -> Callable[[], None]:
        http = httpx.Client(base_url=url, headers=headers, follow_redirects=False, timeout=30)
        clients.append(http)
        rng = random.Random(i)
        for _ in range(5):
            http.get(path, params=params(rng))

        def op() -> None:
            response = http.get(path, params=params(rng))
            if response.status_code != expect:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")

        return op

    try:
        return run_threads(worker, threads=cfg.get_threads, duration=cfg.get_seconds)
    finally:
        for http in clients:
            http.close()


def measure_puts(
    live: Live, backend: str, raw_target: str, cfg: Config
) -> tuple[list[Row], dict[str, Any], list[Any]]:
    with Usage(live.pid) as usage:
        tilde_rate, sessions = sdk_puts(live.url, live.token, live.org, live.repo, cfg, "t")
    with echo_server() as (echo_url, echo_pid), Usage(echo_pid) as echo_usage:
        echo_rate, echo_sessions = sdk_puts(echo_url, "tuk-echo", "o", "r", cfg, "e")
    for client, _ in echo_sessions:
        client.close()
    raw_rate = raw_puts(backend, raw_target, cfg)
    detail = {
        "tilde": asdict(tilde_rate),
        "tilde_cpu": usage.result,
        "echo": asdict(echo_rate),
        "echo_cpu": echo_usage.result,
        "raw": asdict(raw_rate),
        "object_bytes": 1024,
        "requests_per_object": 3,
    }
    label = f"PUT+upload+finalize objects/s, SDK, {cfg.put_threads} threads"
    rows = [
        Row(f"{label} [vs bare-ASGI echo]", "/s", tilde_rate.per_second, echo_rate.per_second,
            PUTS, detail),
        Row(f"{label} [vs raw rows/object]", "/s", tilde_rate.per_second, raw_rate.per_second,
            PUTS, detail),
    ]  # fmt: skip
    return rows, detail, sessions


def measure_gets(live: Live, paths: list[str], cfg: Config) -> tuple[list[Row], dict[str, Any]]:
    auth = {"Authorization": f"Bearer {live.token}"}
    object_path = f"/api/v1/organizations/{live.org}/repositories/{live.repo}/object"

    def pick(rng: random.Random) -> dict[str, str]:
        return {"path": rng.choice(paths)}

    with Usage(live.pid) as usage:
        tilde = http_gets(live.url, object_path, pick, auth, 307, cfg)
    with Usage(live.pid) as health_usage:
        health = http_gets(live.url, "/health", lambda _r: {}, {}, 200, cfg)
    with echo_server() as (echo_url, echo_pid), Usage(echo_pid) as echo_usage:
        echo = http_gets(echo_url, object_path, pick, auth, 307, cfg)
    detail = {
        "tilde": asdict(tilde),
        "tilde_cpu": usage.result,
        "health": asdict(health),
        "health_cpu": health_usage.result,
        "echo": asdict(echo),
        "echo_cpu": echo_usage.result,
        "objects_at_head": len(paths),
    }
    label = f"GET object (307) req/s, {cfg.get_threads} threads"
    rows = [
        Row(f"{label} [vs GET /health]", "/s", tilde.per_second, health.per_second, GETS,
            detail),
        Row(f"{label} [vs bare-ASGI 307]", "/s", tilde.per_second, echo.per_second, GETS,
            detail),
    ]  # fmt: skip
    return rows, detail


def measure_blobs(live: Live, work: Path, cfg: Config) -> tuple[list[Row], dict[str, Any]]:
    import tilde

    size = cfg.blob_mib * MiB
    source = work / "source.bin"
    with open(source, "wb") as f:
        for _ in range(cfg.blob_mib):
            f.write(os.urandom(MiB))
    source_md5 = md5_file(source)

    def best(fn: Callable[[int], None]) -> list[float]:
        rates = []
        for i in range(cfg.blob_repeat):
            os.sync()  # do not pay for the previous run's dirty pages
            time.sleep(0.5)
            started = time.perf_counter()
            fn(i)
            rates.append(size / (time.perf_counter() - started) / 1e6)
        return rates

    def copy(fsync: bool) -> Callable[[int], None]:
        def go(_i: int) -> None:
            target = work / "copy.bin"
            shutil.copyfile(source, target)
            if fsync:
                with open(target, "rb") as f:
                    os.fsync(f.fileno())

        return go

    checks: dict[str, Any] = {}
    with tilde.Client(endpoint_url=live.url, api_key=live.token) as client:
        session = client.repository(f"{live.org}/{live.repo}").session()

        def upload(i: int) -> None:
            result = session.objects.put(f"blob/big{i}.bin", source)
            checks["upload_etag"] = result.etag

        def download(_i: int) -> None:
            target = work / "download.bin"
            with (
                session.objects.get("blob/big0.bin", cache=False) as reader,
                open(target, "wb") as out,
            ):
                for chunk in reader.iter_bytes(chunk_size=MiB):
                    out.write(chunk)

        copy_rates = best(copy(False))
        copy_sync_rates = best(copy(True))
        with Usage(live.pid) as up_usage:
            up_rates = best(upload)
        with Usage(live.pid) as down_usage:
            down_rates = best(download)
        checks["download_md5_matches"] = md5_file(work / "download.bin") == source_md5
        session.rollback()
    for name in ("source.bin", "copy.bin", "download.bin"):
        (work / name).unlink(missing_ok=True)
    detail = {
        "bytes": size,
        "MB_per_s": {
            "copyfile": copy_rates,
            "copyfile_fsync": copy_sync_rates,
            "sdk_upload": up_rates,
            "sdk_download": down_rates,
        },
        "upload_cpu": up_usage.result,
        "download_cpu": down_usage.result,
        "checks": checks,
    }
    copy_best = max(copy_rates)
    read_target = Target(
        ">=", READ_SHARE * copy_best, f"≥ 80% of copy ({READ_SHARE * copy_best:,.0f} MB/s)"
    )
    label = f"{cfg.blob_mib:,} MiB"
    rows = [
        Row(f"upload {label} via SDK (multipart) [vs copyfile+fsync]", " MB/s", max(up_rates),
            max(copy_sync_rates), None, detail),
        Row(f"download {label} via SDK [vs copyfile]", " MB/s", max(down_rates), copy_best,
            read_target, detail),
    ]  # fmt: skip
    return rows, detail


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


# -- running -------------------------------------------------------------------------------
def make_user(container: Any) -> tuple[str, str]:
    """An approved user with an API key, folded into the views; (user id, token)."""
    from domain.shared.values import Actor

    identity = container.identity
    name = f"bench{uuid.uuid4().hex[:8]}"
    user = identity.signup(
        username=name,
        email=f"{name}@example.com",
        full_name="Bench Mark",
        password="correct-horse-battery-staple",
    ).value
    identity.approve(name, Actor.operator())
    result = identity.create_api_key(
        owner_type="user", owner_id=str(user.id), name="bench", actor=Actor("user", str(user.id))
    )
    return str(user.id), str(result.value[1])


@contextlib.contextmanager
def served(settings: Any, workers: int = 1) -> Iterator[Any]:
    """`tilde-server serve [--workers N]` in a child process with production defaults (pool
    size 10)."""
    from tests.conftest import ServerProcess

    class Server(ServerProcess):
        def env(self) -> dict[str, str]:
            env = super().env()
            env.pop("TILDE_DB_POOL_SIZE", None)
            env["TILDE_LOG_LEVEL"] = "WARNING"
            return env

    server = Server(settings, port=settings.port)
    if workers > 1:
        server.extra_args = ["--workers", str(workers)]
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run(backend: str, cfg: Config, skip_http: bool) -> dict[str, Any]:
    from tests import services

    work = Path(tempfile.mkdtemp(prefix="tilde-catalog-bench-"))
    url = services.create_database() if backend == "postgres" else ""
    try:
        return run_in(backend, cfg, skip_http, work, url)
    finally:
        if url:
            services.drop_database(url)
        shutil.rmtree(work, ignore_errors=True)


def run_in(backend: str, cfg: Config, skip_http: bool, work: Path, url: str) -> dict[str, Any]:
    from infra.bootstrap import bootstrap
    from infra.crypto.passwords import Argon2PasswordHasher
    from infra.settings import Settings
    from tests import services

    rows: list[Row] = []
    notes: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    settings = Settings(
        data_dir=work / "data",
        database_url=url,
        secret_key="bench-secret",
        log_level="WARNING",
        port=services.free_port(),
    )
    container = bootstrap(settings, hasher=Argon2PasswordHasher(time_cost=1, memory_cost=1024))
    raw_target = url or str(settings.data_dir / "events" / "catalog.sqlite")
    try:
        bench = CatalogBench(container, backend)
        small, big = bench.create("small"), bench.create("big")
        log(f"building N={SMALL_N:,} and N={cfg.objects:,} repositories…")
        notes["build_small"] = asdict(bench.build(small, SMALL_N))
        build = bench.build(big, cfg.objects)
        notes["build_big"] = asdict(build)
        log(f"  built N={cfg.objects:,} in {build.seconds:.0f} s")
        for repo in (small, big):
            left = bench.head_seq(repo)
            churn = sorted(random.Random(3).sample(repo.paths, min(DIFF_CHURN, len(repo.paths))))
            repo.diff = (left, bench.modify(repo, churn))
        base = Baseline(backend, raw_target, container.catalog_db.dialect)
        log("copying the catalog tables for the baseline…")
        notes["baseline_copy_seconds"] = base.copy_catalog()
        base.raw.analyze(BASE_TABLES)  # the catalog's own tables too: both sides alike
        for repo in (small, big):
            repo.base_seq = base.head_seq(repo.id)
        log(f"commit of 10 changes: {cfg.commit_samples} samples x 4…")
        rows += measure_commit10(bench, base, small, big, cfg)
        log(f"first pages and diffs: {cfg.page_samples} samples x 6…")
        rows += measure_pages(bench, base, small, big, cfg)
        log(f"commit of {min(cfg.large_commit, cfg.objects):,} staged changes…")
        rows += measure_large_commit(bench, base, big, cfg)
        base.close()
        if skip_http:
            return {"rows": rows, "notes": notes, "checks": checks}
        log("live server: user, key, projections catch-up…")
        _user_id, token = make_user(container)
        with Stopwatch() as catch_up:
            container.projections.catch_up()
        notes["projections_catch_up_seconds"] = catch_up.seconds
    finally:
        container.close()
    with served(settings) as server:
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=auth, timeout=60) as http:
            org = f"bench-{uuid.uuid4().hex[:8]}"
            r = http.post("/api/v1/organizations", json={"name": org, "display_name": org})
            r.raise_for_status()
            r = http.post(f"/api/v1/organizations/{org}/repositories", json={"name": "sdk"})
            r.raise_for_status()
            live = Live(server.url, server.proc.pid, token, org, "sdk", r.json()["id"])
        log(f"PUT+upload+finalize: {cfg.put_threads} threads x {cfg.put_seconds:.0f} s x 3…")
        more, put_detail, sessions = measure_puts(
            live, backend, url or str(work / "raw.sqlite"), cfg
        )
        rows += more
        put_total = put_detail["tilde"]["operations"] + 5 * cfg.put_threads
        for client, session in sessions:
            session.commit("bench puts")
            client.close()
        reader = Raw(backend, raw_target)
        paths = [
            r[0]
            for r in reader.all(
                "SELECT path FROM catalog_entries WHERE repository_id = ? AND valid_to = ?",
                (live.repo_id, INF),
            )
        ]
        reader.close()
        checks["puts_committed"] = len(paths)
        checks["puts_all_committed"] = len(paths) == put_total
        log(f"GET object: {cfg.get_threads} threads x {cfg.get_seconds:.0f} s x 3…")
        more, detail = measure_gets(live, paths, cfg)
        rows += more
        log(f"{cfg.blob_mib} MiB upload/download x {cfg.blob_repeat}…")
        more, detail = measure_blobs(live, work, cfg)
        rows += more
        checks.update(detail["checks"])
    if backend == "postgres":
        # Production shape: N API processes (here 2, one per core) behind one port.
        log(f"PUT+upload+finalize, 2 API processes: {cfg.put_threads} threads…")
        with served(settings, workers=2) as server:
            rate, sessions = sdk_puts(server.url, token, live.org, live.repo, cfg, "w")
            for client, session in sessions:
                session.commit("bench puts, 2 processes")
                client.close()
        echo = put_detail["echo"]
        echo_rate = echo["operations"] / echo["seconds"]
        rows.append(
            Row(f"PUT+upload+finalize objects/s, SDK, {cfg.put_threads} threads, 2 API processes"
                " [vs bare-ASGI echo]", "/s", rate.per_second, echo_rate, PUTS,
                {"tilde": asdict(rate), "echo": echo})
        )  # fmt: skip
    return {"rows": rows, "notes": notes, "checks": checks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.catalog", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller N, fewer samples")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument(
        "--objects", type=int, default=None, help="N of the large repository (1,000,000)"
    )
    parser.add_argument("--catalog-only", action="store_true", help="skip the live server")
    parser.add_argument("--output", type=Path, default=None, help="JSON file")
    args = parser.parse_args(argv)
    cfg = Config.quick(args.objects) if args.quick else Config.full(args.objects)
    from infra.logging import configure_logging

    configure_logging("WARNING", "console")
    started = time.perf_counter()
    load_before = os.getloadavg()
    outcome = run(args.backend, cfg, args.catalog_only)
    rows: list[Row] = outcome["rows"]
    load_after = os.getloadavg()
    info = {**machine(), "load_average": {"before": load_before, "after": load_after}}
    busy = "" if load_before[0] < (info["cpus"] or 1) else "  (BUSY MACHINE: other work ran)"
    print(
        f"\ncatalog benchmark — backend {args.backend}{' (quick)' if args.quick else ''}, "
        f"N={cfg.objects:,}, {info['cpus']} CPUs, Python {info['python']}, "
        f"{time.perf_counter() - started:.0f} s\n"
        f"load average (1/5/15 min) before {fmt_load(load_before)}, "
        f"after {fmt_load(load_after)}{busy}\n"
    )
    print(render_table(rows, "raw SQL / bare HTTP / copy, same run"))
    print(
        "\nratio = tilde ÷ baseline (latency: times slower than raw; rate: fraction of raw "
        "speed). % rows: time at large N ÷ time at N=1,000. Targets: ARCHITECTURE.md §8."
    )
    notes = outcome["notes"]
    if "build_big" in notes:
        b = notes["build_big"]
        print(
            f"setup: N={b['objects']:,} built in {b['seconds']:.0f} s through catalog.stage "
            f"({b['objects'] / b['stage_seconds']:,.0f} staged/s) and "
            f"{len(b['commit_seconds'])} commit(s) of ≤ {BUILD_COMMIT:,} "
            f"({sum(b['commit_seconds']):.1f} s); baseline tables copied in "
            f"{notes['baseline_copy_seconds']:.1f} s"
        )
    checks = outcome["checks"]
    if checks:
        print("checks: " + ", ".join(f"{k}={v}" for k, v in checks.items()))
    path = args.output or RESULTS_DIR / f"catalog-{args.backend}.json"
    write_json(
        path,
        {
            "benchmark": "catalog",
            "backend": args.backend,
            "quick": args.quick,
            "config": asdict(cfg),
            "machine": info,
            "rows": [r.as_dict() for r in rows],
            "notes": notes,
            "checks": checks,
        },
    )
    print(f"results: {path}")
    failed = [k for k, v in checks.items() if v is False]
    return 1 if failed else 0


def fmt_load(values: Sequence[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--echo":
        serve_echo(int(sys.argv[2]))
    else:
        raise SystemExit(main())
