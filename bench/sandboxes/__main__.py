"""`python3 -m bench.sandboxes [--quick] [--only data,...] [--objects N]`: every phase's
rows in one table, each beside its baseline measured in the same run."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from bench.common import RESULTS_DIR, Row, load_average, machine, render_table, write_json

# Phases in run order: a module under bench/sandboxes with `run(args) -> list[Row]`.
PHASES = ["data", "e2e", "terminal", "egress", "credentials"]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.sandboxes")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer samples")
    parser.add_argument("--only", default="", help="comma-separated phases (default: all)")
    parser.add_argument("--objects", type=int, default=100_000, help="tree size (data phase)")
    parser.add_argument("--changes", type=int, default=1_000, help="changed files (data phase)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "sandboxes.json")
    args = parser.parse_args()
    wanted = [p for p in args.only.split(",") if p] or PHASES
    rows: list[Row] = []
    for phase in wanted:
        module = importlib.import_module(f"bench.sandboxes.{phase}")
        rows.extend(module.run(args))
    print(render_table(rows, "cp -al / raw copy"))
    write_json(
        args.output,
        {"machine": machine(), "load": load_average(), "rows": [r.as_dict() for r in rows]},
    )
    return 1 if any(r.target and not r.target.met(r.tilde) for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
