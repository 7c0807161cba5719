"""Metric 4: PUT + upload + finalize of 1 KiB objects through the SDK, beside the bare-ASGI echo
and the rows tilde writes per object with the raw driver."""

from __future__ import annotations

import itertools
import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from bench.catalog.baseline import Raw
from bench.catalog.config import ETAG, OCTETS, PUTS, Config, entry
from bench.catalog.echo import echo_server
from bench.catalog.live import Live, Usage
from bench.common import Row, Throughput, run_threads


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
