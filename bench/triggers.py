"""Sandbox triggers: what evaluation costs, and what it adds to a commit.

    python3 -m bench.triggers [--backend sqlite|postgres] [--commits 60] [--large 100000]

Measured in one run, each beside its baseline:
1. commit p50/p99 of 10-change commits on a repository with 10 triggers vs one with none
   (evaluation runs in the worker, never in the commit);
2. commit -> run `created` latency (the launcher keeps launches in memory: this is the
   trigger path up to the launch, not Docker);
3. evaluation of one 100,000-change commit against 10 triggers (20 conditions: prefixes that
   match a few paths, exact paths, diff types) vs a baseline of one indexed lookup per
   condition in the same database, and vs reading the commit's 100k changes once (a scan).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench.catalog.layer import CatalogBench, Repo
from bench.common import Stopwatch, Summary, interleaved_latencies, log, ms

LARGE_TRIGGERS = 10


def _container(backend: str, data: Path) -> Any:
    from functools import partial

    import infra.contexts
    from infra.bootstrap import bootstrap
    from infra.contexts import triggers
    from infra.settings import Settings
    from infra.triggers.launcher import MemoryLauncher
    from tests import services
    from tests.conftest import FAST_HASHER

    url = services.create_database() if backend == "postgres" else ""
    settings = Settings(
        data_dir=data, database_url=url, log_level="WARNING", projector_poll_interval=0.02,
        trigger_poll_interval=0.02, secret_key="bench",
    )  # fmt: skip
    launcher = MemoryLauncher()
    contexts = [
        partial(triggers.build, launcher=launcher) if b is triggers.build else b
        for b in infra.contexts.CONTEXTS
    ]
    container = bootstrap(settings, hasher=FAST_HASHER, contexts=contexts)
    if url:
        container.closers.append(lambda: services.drop_database(url))
    container.start_background()
    return container


def _owner(container: Any) -> tuple[str, Any]:
    """A user owning an organization (fire-time checks need a real one)."""
    from application.principal import Principal
    from domain.shared.values import Actor
    from tests.builders import name, signup_body

    body = signup_body(name())
    user = container.identity.signup(**body).value
    container.identity.approve(body["username"], Actor.operator())
    principal = Principal("user", str(user.id), body["username"], "bearer")
    org = container.organizations.create_organization(
        name=name("o-"), display_name="bench", principal=principal
    )
    container.wait_for(org.written)
    return str(org.value.id), principal


def _trigger(container: Any, org: str, repo: str, principal: Any, name: str, prefix: str) -> str:
    result = container.services["triggers"].create_trigger(
        org, repo, name=name, conditions=[{"type": "prefix", "prefix": prefix}],
        sandbox_config={"image": "busybox"}, principal=principal,
    )  # fmt: skip
    container.wait_for(result.written)
    return str(result.value.id)


def commit_latency(bench: CatalogBench, plain: Repo, triggered: Repo, n: int) -> dict[str, Any]:
    counter = iter(range(10**9))

    def commit(repo: Repo) -> None:
        i = next(counter)
        bench.modify(repo, [f"datasets/{i}/{j}.csv" for j in range(10)])

    samples = interleaved_latencies(
        {"none": lambda: commit(plain), "ten": lambda: commit(triggered)}, n, warmup=5
    )
    return {k: Summary.of(v) for k, v in samples.items()}


def run_latency(bench: CatalogBench, repo: Repo, trigger_id: str, n: int) -> Summary:
    """Commit returned -> the run is `created` in the runs view."""
    from domain.triggers.run import run_id

    db = bench.container.db
    samples = []
    for i in range(n):
        sid = bench.session(repo)
        bench.stage(repo, sid, [f"datasets/run{i}.csv"], f"r{i}")
        outcome = bench.cat.commit(
            bench.org, repo.name, sid, message="m", metadata={}, principal=bench.principal
        ).value
        started = time.perf_counter()
        rid = str(run_id(trigger_id, outcome.commit_id))
        while True:
            row = db.query_one("SELECT status FROM sandbox_trigger_runs WHERE id = ?", (rid,))
            if row is not None and row["status"] != "pending":
                assert row["status"] == "created", row
                break
            if time.perf_counter() - started > 30:
                raise TimeoutError("no run after 30 s")
            time.sleep(0.002)
        samples.append(time.perf_counter() - started)
    return Summary.of(samples)


def large_commit(bench: CatalogBench, repo: Repo, size: int) -> dict[str, float]:
    """One commit of `size` changes, then its evaluation against 10 triggers' conditions."""
    from domain.catalog.paths import upper_bound
    from domain.triggers.conditions import Condition, match
    from projections.catalog.changes import SqlCommitChanges

    paths = [f"logs/{i // 1000:03d}/{i % 1000:04d}.txt" for i in range(size - 4)]
    paths += ["datasets/a.csv", "datasets/b.csv", "models/m.bin", "README.md"]
    sid = bench.session(repo)
    with Stopwatch() as staging:
        bench.stage(repo, sid, paths, "big")
    with Stopwatch() as committing:
        seq = bench.commit(repo, sid)
    log(f"  staged {size:,} in {staging.seconds:.1f} s, committed in {committing.seconds:.1f} s")
    triggers = []
    for t in range(LARGE_TRIGGERS):  # 2 conditions each: a prefix and an exact path
        kind = ("any", "added", "changed", "removed")[t % 4]
        triggers.append([
            Condition("prefix", ("datasets/", "models/", f"none{t}/")[t % 3], kind),
            Condition("path_exact", ("README.md", f"missing{t}.txt")[t % 2]),
        ])  # fmt: skip
    lookup = SqlCommitChanges(bench.db).lookup(repo.id, seq)
    db = bench.db

    def evaluate() -> int:
        return sum(match(conditions, lookup).count for conditions in triggers)

    def baseline() -> int:
        found = 0
        for conditions in triggers:
            for c in conditions:
                if c.type == "prefix":
                    sql = (
                        "SELECT path FROM catalog_changes WHERE repository_id = ? AND seq = ?"
                        " AND path >= ? AND path < ? LIMIT 101"
                    )
                    params: tuple[Any, ...] = (repo.id, seq, c.value, upper_bound(c.value))
                else:
                    sql = (
                        "SELECT path FROM catalog_changes WHERE repository_id = ? AND seq = ?"
                        " AND path = ?"
                    )
                    params = (repo.id, seq, c.value)
                found += len(db.query(sql, params))
        return found

    def scan() -> int:
        rows = db.query(
            "SELECT path, op FROM catalog_changes WHERE repository_id = ? AND seq = ?",
            (repo.id, seq),
        )
        return len(rows)

    _quiet(bench.container)
    assert evaluate() > 0 and scan() == size
    # The scan is timed apart: its 100k rows' garbage would bill a collection to the next call.
    samples = interleaved_latencies({"eval": evaluate, "base": baseline}, 50, warmup=3)
    samples |= interleaved_latencies({"scan": scan}, 3, warmup=1)
    return {k: Summary.of(v).p50 for k, v in samples.items()}


def _quiet(container: Any, timeout: float = 120.0) -> None:
    """Wait until the background has folded and evaluated everything (no GIL contention)."""
    head = container.catalog.recorder.max_notification_id() or 0
    runner = container.projections.runners["trigger-evaluation"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = container.db.query_one("SELECT COUNT(*) AS n FROM process_jobs WHERE done_at IS NULL")
        if runner.positions.get("catalog", 0) >= head and row is not None and row["n"] == 0:
            return
        time.sleep(0.05)
    raise TimeoutError("the background did not go quiet")


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--commits", type=int, default=60)
    parser.add_argument("--large", type=int, default=100_000)
    args = parser.parse_args()
    container = _container(args.backend, Path(tempfile.mkdtemp(prefix="bench-triggers-")))
    try:
        org, principal = _owner(container)
        bench = CatalogBench(container, args.backend)
        bench.org, bench.principal = org, principal
        plain, triggered, single, large = (bench.create(n) for n in ("plain", "ten", "one", "big"))
        for t in range(10):
            _trigger(container, org, "ten", principal, f"t{t}", f"other{t}/")
        one = _trigger(container, org, "one", principal, "etl", "datasets/")
        log(f"backend {args.backend}: commit latency, {args.commits} commits each")
        commits = commit_latency(bench, plain, triggered, args.commits)
        log("commit -> run created")
        runs = run_latency(bench, single, one, max(20, args.commits // 2))
        log(f"one commit of {args.large:,} changes vs {LARGE_TRIGGERS} triggers")
        big = large_commit(bench, large, args.large)
    finally:
        container.close()
    none, ten = commits["none"], commits["ten"]
    print(f"\n## bench.triggers ({args.backend})\n")
    print("| measure | value | baseline | ratio |\n|---|---|---|---|")
    print(f"| commit p50, 10 triggers vs none | {ms(ten.p50):.1f} ms | {ms(none.p50):.1f} ms"
          f" | {ten.p50 / none.p50:.2f} |")  # fmt: skip
    print(f"| commit p99, 10 triggers vs none | {ms(ten.p99):.1f} ms | {ms(none.p99):.1f} ms"
          f" | {ten.p99 / none.p99:.2f} |")  # fmt: skip
    print(f"| commit -> run created p50 / p99 | {ms(runs.p50):.0f} ms / {ms(runs.p99):.0f} ms"
          " | target p50 500 ms | |")  # fmt: skip
    ratio = big["eval"] / big["base"]
    print(f"| evaluate {args.large:,}-change commit, 10 triggers | {ms(big['eval']):.2f} ms"
          f" | {ms(big['base']):.2f} ms (one lookup per condition) | {ratio:.2f} |")  # fmt: skip
    print(f"| the same commit's changes read once (a scan) | {ms(big['scan']):.1f} ms | | |")


if __name__ == "__main__":
    main()
