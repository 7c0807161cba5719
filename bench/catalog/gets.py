"""Metric 5: GET object (307) without following the redirect, beside `GET /health` on the same
server and the bare-ASGI 307."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import httpx

from bench.catalog.config import GETS, GETS_VS_ECHO, Config
from bench.catalog.echo import echo_server
from bench.catalog.live import Live, Usage, usage_total
from bench.common import Row, Throughput, interleaved, median_round, ms, run_threads


def http_gets(url: str, path: str, params: Callable[[random.Random], dict[str, str]],
              headers: dict[str, str], expect: int, cfg: Config) -> Throughput:  # fmt: skip
    clients: list[httpx.Client] = []

    def worker(i: int) -> Callable[[], None]:
        http = httpx.Client(base_url=url, headers=headers, follow_redirects=False, timeout=30)
        clients.append(http)
        rng = random.Random(i)
        for _ in range(5):
            http.get(path, params=params(rng))

        def op() -> None:
            response = http.get(path, params=params(rng))
            if response.status_code != expect:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")

        return op

    try:
        return run_threads(worker, threads=cfg.get_threads, duration=cfg.get_seconds)
    finally:
        for http in clients:
            http.close()


def measure_gets(live: Live, paths: list[str], cfg: Config) -> tuple[list[Row], dict[str, Any]]:
    auth = {"Authorization": f"Bearer {live.token}"}
    object_path = f"/api/v1/organizations/{live.org}/repositories/{live.repo}/object"

    def pick(rng: random.Random) -> dict[str, str]:
        return {"path": rng.choice(paths)}

    usages: dict[str, list[dict[str, float]]] = {"tilde": [], "echo": []}
    with echo_server() as (echo_url, echo_pid):

        def tilde_round(_i: int) -> Throughput:
            with Usage(live.pid) as usage:
                rate = http_gets(live.url, object_path, pick, auth, 307, cfg)
            usages["tilde"].append(usage.result)
            return rate

        def echo_round(_i: int) -> Throughput:
            with Usage(echo_pid) as usage:
                rate = http_gets(echo_url, object_path, pick, auth, 307, cfg)
            usages["echo"].append(usage.result)
            return rate

        # tilde and the bare 307 take turns (`interleaved`); the median round of each counts.
        rounds = interleaved({"tilde": tilde_round, "echo": echo_round}, cfg.rate_rounds)
    with Usage(live.pid) as health_usage:
        health = http_gets(live.url, "/health", lambda _r: {}, {}, 200, cfg)
    tilde, echo = median_round(rounds["tilde"]), median_round(rounds["echo"])
    tilde_usage, echo_usage = usage_total(usages["tilde"]), usage_total(usages["echo"])
    tilde_ops = sum(r.operations for r in rounds["tilde"])
    echo_ops = sum(r.operations for r in rounds["echo"])
    detail = {
        "tilde": asdict(tilde),
        "tilde_rounds": [asdict(r) for r in rounds["tilde"]],
        "tilde_cpu": tilde_usage,
        "health": asdict(health),
        "health_cpu": health_usage.result,
        "echo": asdict(echo),
        "echo_rounds": [asdict(r) for r in rounds["echo"]],
        "echo_cpu": echo_usage,
        "objects_at_head": len(paths),
    }
    label = f"GET object (307) req/s, {cfg.get_threads} threads"
    rows = [
        Row(f"{label} [vs GET /health]", "/s", tilde.per_second, health.per_second, GETS,
            detail),
        Row(f"{label} [vs bare-ASGI 307]", "/s", tilde.per_second, echo.per_second,
            GETS_VS_ECHO, detail),
        Row("  server CPU per GET [vs bare-ASGI 307]", "ms",
            ms(tilde_usage["server_cpu_seconds"] / max(1, tilde_ops)),
            ms(echo_usage["server_cpu_seconds"] / max(1, echo_ops)), None, {}),
    ]  # fmt: skip
    return rows, detail
