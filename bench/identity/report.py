"""The command line: options, the run, the printed table and the JSON file under bench/results/."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

from bench.common import (
    RESULTS_DIR,
    Row,
    load_average,
    log,
    machine,
    render_table,
    write_json,
)
from bench.identity.config import Config
from bench.identity.run import run
from infra.logging import configure_logging


def main(argv: list[str] | None = None) -> int:
    from bench import identity as package  # its docstring is the --help text

    parser = argparse.ArgumentParser(prog="python3 -m bench.identity", description=package.__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter runs")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument(
        "--output", type=Path, default=None, help="JSON file (default bench/results/…)"
    )
    args = parser.parse_args(argv)
    cfg = Config.quick() if args.quick else Config.full()
    configure_logging("WARNING", "console")  # keep the outbox sender's info lines off stdout

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
