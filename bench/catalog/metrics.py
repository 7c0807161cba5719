"""Phase A, metrics 1-3: commits of 10 and of many changes, first pages and diff pages, each
beside the raw-SQL baseline."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence

from bench.catalog.baseline import Baseline
from bench.catalog.config import (
    COMMIT_P50,
    COMMIT_SCALING,
    DIFF_FLAT,
    LARGE_COMMIT,
    LARGE_RATE,
    PAGE,
    PAGE_P95,
    SMALL_N,
    Config,
)
from bench.catalog.layer import CatalogBench, Repo
from bench.common import Row, Stopwatch, Summary, ms


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
    from projections.catalog import history, queries

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
            out = history.diff_commits(db, repo.id, left, right, prefix="", after="", amount=PAGE)
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
