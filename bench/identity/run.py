"""One run: a fresh store with tilde and its baseline, then every phase in order."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import Row
from bench.identity.baseline import Baseline
from bench.identity.commands import measure_commands_per_second, measure_single_command
from bench.identity.config import Config
from bench.identity.postgres import PgBaseline
from bench.identity.projectors import measure_catch_up, measure_rebuild
from bench.identity.read_your_writes import measure_read_your_writes
from bench.identity.server import Tilde
from bench.identity.sqlite import SqliteBaseline


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
