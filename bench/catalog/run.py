"""One run: build the repositories, measure phase A on the catalog layer, then phase B against
a live server (skipped with --catalog-only)."""

from __future__ import annotations

import gc
import random
import shutil
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from bench.catalog.baseline import Baseline, Raw
from bench.catalog.blobs import measure_blobs
from bench.catalog.config import BASE_TABLES, DIFF_CHURN, INF, PUTS_VS_ECHO, SMALL_N, Config
from bench.catalog.gets import measure_gets
from bench.catalog.layer import CatalogBench
from bench.catalog.live import Live, make_user, served
from bench.catalog.metrics import measure_commit10, measure_large_commit, measure_pages
from bench.catalog.puts import measure_puts, measure_s3_puts, sdk_puts
from bench.common import Row, Stopwatch, log


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
        # The build's long-lived objects (N paths per repository, the baseline's copies) leave
        # the collector's view: otherwise a full collection that traverses them (tens of ms)
        # lands inside whichever timed call happens to trigger it, tilde's or the baseline's.
        gc.collect()
        gc.freeze()
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
        log(
            f"PUT+upload+finalize: {cfg.put_threads} threads x {cfg.put_seconds:.0f} s,"
            f" {cfg.rate_rounds} rounds each of tilde and echo, then the raw rows…"
        )
        more, put_detail, sessions = measure_puts(
            live, backend, url or str(work / "raw.sqlite"), cfg
        )
        rows += more
        put_total = sum(
            r["operations"] + 5 * cfg.put_threads for r in put_detail["tilde_rounds"]
        )  # each round's operations and its threads' warm-up puts
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
        log(
            f"GET object: {cfg.get_threads} threads x {cfg.get_seconds:.0f} s,"
            f" {cfg.rate_rounds} rounds each of tilde and the bare 307, then /health…"
        )
        more, detail = measure_gets(live, paths, cfg)
        rows += more
        log(f"{cfg.blob_mib} MiB upload/download x {cfg.blob_repeat}…")
        more, detail = measure_blobs(live, work, cfg)
        rows += more
        checks.update(detail["checks"])
    log(f"PUT+upload+finalize, S3 blob store (moto): {cfg.put_threads} threads…")
    echo = put_detail["echo"]
    rows += measure_s3_puts(
        settings,
        token,
        cfg,
        echo["operations"] / echo["seconds"],
        put_detail["echo_server_cpu_per_object"],
    )
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
                " [vs bare-ASGI echo]", "/s", rate.per_second, echo_rate, PUTS_VS_ECHO[backend],
                {"tilde": asdict(rate), "echo": echo})
        )  # fmt: skip
    return {"rows": rows, "notes": notes, "checks": checks}
