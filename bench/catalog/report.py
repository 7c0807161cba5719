"""The command line: options, the run, the printed table and the JSON file under bench/results/."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench.catalog.config import BUILD_COMMIT, Config
from bench.catalog.run import run
from bench.common import RESULTS_DIR, Row, machine, render_table, write_json


def main(argv: list[str] | None = None) -> int:
    from bench import catalog as package  # its docstring is the --help text

    parser = argparse.ArgumentParser(prog="python3 -m bench.catalog", description=package.__doc__)
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
