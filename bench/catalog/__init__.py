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
  6. 1 GiB (128 MiB with --quick) upload and download through the local blob store;
  7. metric 4 with the S3 blob store (moto on loopback): the bytes bypass the server.

Every tilde number stands beside a baseline of the same job (raw psycopg or sqlite3 on tables
of the same shape and size, a bare ASGI server speaking the same HTTP, or `shutil.copyfile`);
see bench/README.md. Results: a Markdown table on stdout and bench/results/catalog-<backend>.json.
"""

from __future__ import annotations

import warnings

from bench.catalog.config import Config
from bench.catalog.echo import echo_app, serve_echo
from bench.catalog.report import main
from bench.catalog.run import run

warnings.filterwarnings("ignore", category=DeprecationWarning)

__all__ = ["Config", "echo_app", "main", "run", "serve_echo"]
