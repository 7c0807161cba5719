"""Metric 4: PUT + upload + finalize of 1 KiB objects through the SDK, beside the bare-ASGI echo
and the rows tilde writes per object with the raw driver."""

from __future__ import annotations

import itertools
import json
import math
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import httpx

from bench.catalog.baseline import Raw
from bench.catalog.config import ETAG, OCTETS, PUTS, PUTS_VS_ECHO, Config, entry
from bench.catalog.echo import echo_server
from bench.catalog.live import Live, Usage, postgres_cpu_seconds, served, usage_total
from bench.common import (
    Row,
    Summary,
    Throughput,
    interleaved,
    median_round,
    ms,
    percentile,
    run_threads,
)

REQUESTS = ("PUT object", "PUT bytes", "POST finalize")


def request_kind(request: httpx.Request) -> str:
    if request.url.path.startswith("/_blob/"):
        return "PUT bytes"
    return "POST finalize" if request.url.path.endswith("/finalize") else "PUT object"


class TimedTransport(httpx.BaseTransport):
    """Times each request the SDK sends (to the response's headers; the bodies are small),
    by kind, into `samples` while `on` is set."""

    def __init__(self, inner: httpx.BaseTransport, samples: dict[str, list[float]]) -> None:
        self.inner = inner
        self.samples = samples
        self.on = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        response = self.inner.handle_request(request)
        if self.on:
            self.samples[request_kind(request)].append(time.perf_counter() - started)
        return response

    def close(self) -> None:
        self.inner.close()


def sdk_puts(
    url: str,
    token: str,
    org: str,
    repo: str,
    cfg: Config,
    tag: str,
    samples: dict[str, list[float]] | None = None,
) -> tuple[Throughput, list[Any]]:
    """PUT+upload+finalize of 1 KiB objects from `put_threads` threads, each with its own
    `tilde.Client` and session; returns the rate and the sessions (to commit). With
    `samples`, each request's latency is added under its kind (`REQUESTS`)."""
    import tilde

    clients: list[Any] = []
    sessions: list[Any] = []
    timers: list[TimedTransport] = []
    lock = threading.Lock()
    payload = os.urandom(1024)

    def worker(i: int) -> Callable[[], Any]:
        client = tilde.Client(endpoint_url=url, api_key=token)
        mine: dict[str, list[float]] = {kind: [] for kind in REQUESTS}
        timer = TimedTransport(client._http._transport, mine)
        client._http._transport = timer  # the SDK's one httpx.Client, all three requests
        session = client.repository(f"{org}/{repo}").session()
        with lock:
            clients.append(client)
            sessions.append(session)
            timers.append(timer)
        counter = itertools.count()
        for _ in range(5):  # warm the connection and the server's caches
            session.objects.put(f"{tag}{i}/warm{next(counter)}", payload)
        timer.on = True
        return lambda: session.objects.put(f"{tag}{i}/obj{next(counter):07d}", payload)

    result = run_threads(worker, threads=cfg.put_threads, duration=cfg.put_seconds)
    if samples is not None:
        for timer in timers:
            for kind, values in timer.samples.items():
                samples.setdefault(kind, []).extend(values)
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
    """tilde and the echo floor in `rate_rounds` interleaved rounds (the median round of
    each is the rate; CPU per object and latencies over all rounds), then the raw rows."""
    tilde_times: dict[str, list[float]] = {}
    echo_times: dict[str, list[float]] = {}
    sessions: list[Any] = []
    usages: dict[str, list[dict[str, float]]] = {"tilde": [], "echo": []}
    with echo_server() as (echo_url, echo_pid):

        def tilde_round(i: int) -> Throughput:
            with Usage(live.pid) as usage:
                rate, mine = sdk_puts(
                    live.url, live.token, live.org, live.repo, cfg, f"t{i}-", tilde_times
                )
            sessions.extend(mine)
            usages["tilde"].append(usage.result)
            return rate

        def echo_round(i: int) -> Throughput:
            with Usage(echo_pid) as usage:
                rate, theirs = sdk_puts(echo_url, "tuk-echo", "o", "r", cfg, f"e{i}-", echo_times)
            for client, _ in theirs:
                client.close()
            usages["echo"].append(usage.result)
            return rate

        rounds = interleaved({"tilde": tilde_round, "echo": echo_round}, cfg.rate_rounds)
    tilde_rate, echo_rate = median_round(rounds["tilde"]), median_round(rounds["echo"])
    tilde_usage, echo_usage = usage_total(usages["tilde"]), usage_total(usages["echo"])
    tilde_ops = sum(r.operations for r in rounds["tilde"])
    echo_ops = sum(r.operations for r in rounds["echo"])
    raw_postgres = postgres_cpu_seconds()
    raw_rate = raw_puts(backend, raw_target, cfg)
    raw_postgres = postgres_cpu_seconds() - raw_postgres
    detail = {
        "tilde": asdict(tilde_rate),
        "tilde_rounds": [asdict(r) for r in rounds["tilde"]],
        "tilde_cpu": tilde_usage,
        "echo": asdict(echo_rate),
        "echo_rounds": [asdict(r) for r in rounds["echo"]],
        "echo_cpu": echo_usage,
        "echo_server_cpu_per_object": echo_usage["server_cpu_seconds"] / max(1, echo_ops),
        "raw": asdict(raw_rate),
        "object_bytes": 1024,
        "requests_per_object": 3,
        "latency": {
            "tilde": {k: Summary.of(v).as_ms() for k, v in tilde_times.items()},
            "echo": {k: Summary.of(v).as_ms() for k, v in echo_times.items()},
        },
    }
    label = f"PUT+upload+finalize objects/s, SDK, {cfg.put_threads} threads"
    rows = [
        Row(f"{label} [vs bare-ASGI echo]", "/s", tilde_rate.per_second, echo_rate.per_second,
            PUTS_VS_ECHO[backend], detail),
        Row(f"{label} [vs raw rows/object]", "/s", tilde_rate.per_second, raw_rate.per_second,
            PUTS, detail),
    ]  # fmt: skip
    for kind in REQUESTS:
        rows.append(
            Row(f"  {kind} p99 under that load [vs echo]", "ms",
                ms(percentile(tilde_times.get(kind, []), 99)),
                ms(percentile(echo_times.get(kind, []), 99)), None, {})
        )  # fmt: skip
    rows.append(
        Row("  server CPU per object (3 requests) [vs echo]", "ms",
            ms(tilde_usage["server_cpu_seconds"] / max(1, tilde_ops)),
            ms(echo_usage["server_cpu_seconds"] / max(1, echo_ops)), None, {})
    )  # fmt: skip
    if backend == "postgres":
        rows.append(
            Row("  PostgreSQL CPU per object (its server processes) [vs per raw transaction]",
                "ms", ms(tilde_usage["postgres_cpu_seconds"] / max(1, tilde_ops)),
                ms(raw_postgres / max(1, raw_rate.operations)), None, {})
        )  # fmt: skip
    detail["raw_postgres_cpu_seconds"] = raw_postgres
    return rows, detail, sessions


def measure_s3_puts(
    settings: Any, token: str, cfg: Config, echo_rate: float, echo_cpu: float
) -> list[Row]:
    """The same SDK puts with the S3 blob store (moto on loopback): the bytes go from the
    client to S3 on a presigned URL, the server answers PUT object and finalize (which
    checks the object in S3). Reported beside the echo floor of the main run; moto, a
    Python server, takes the byte PUT."""
    from tests import services

    bucket = f"tilde-bench-{uuid.uuid4().hex[:12]}"
    environment = {
        "TILDE_BLOB_STORE": "s3",
        "TILDE_S3_BUCKET": bucket,
        "TILDE_S3_ENDPOINT_URL": services.s3_endpoint(),
        "TILDE_S3_ACCESS_KEY_ID": "test",
        "TILDE_S3_SECRET_ACCESS_KEY": "test",
    }
    s3_settings = settings.model_copy(update={"port": services.free_port()})
    with served(s3_settings, environment=environment) as server:
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=auth, timeout=60) as http:
            org = f"bench-s3-{uuid.uuid4().hex[:8]}"
            r = http.post("/api/v1/organizations", json={"name": org, "display_name": org})
            r.raise_for_status()
            r = http.post(f"/api/v1/organizations/{org}/repositories", json={"name": "s3"})
            r.raise_for_status()
        times: dict[str, list[float]] = {}
        with Usage(server.proc.pid) as usage:
            rate, sessions = sdk_puts(server.url, token, org, "s3", cfg, "s", times)
        for client, session in sessions:
            session.commit("bench puts, S3 blob store")
            client.close()
    detail = {"tilde": asdict(rate), "tilde_cpu": usage.result, "echo_per_second": echo_rate}
    label = f"PUT+upload+finalize objects/s, SDK, {cfg.put_threads} threads, S3 blob store"
    rows = [
        Row(f"{label} (moto; bytes bypass the server) [vs bare-ASGI echo]", "/s",
            rate.per_second, echo_rate, None, detail),
        Row("  server CPU per object (2 of the 3 requests) [vs echo, 3 requests]", "ms",
            ms(usage.result["server_cpu_seconds"] / max(1, rate.operations)),
            ms(echo_cpu), None, {}),
    ]  # fmt: skip
    for kind in REQUESTS:
        rows.append(
            Row(f"  {kind} p99 under that load, S3 blob store", "ms",
                ms(percentile(times.get(kind, []), 99)), math.nan, None, {})
        )  # fmt: skip
    return rows
