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

import warnings

from bench.identity.config import Config
from bench.identity.report import main
from bench.identity.run import environment, run

warnings.filterwarnings("ignore", category=DeprecationWarning)

__all__ = ["Config", "environment", "main", "run"]
