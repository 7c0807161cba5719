"""Phase `e2e`: sandboxes end to end on the real Docker engine, beside `docker run --rm` of the
same image in the same run: create → first log byte (p50, warm), create → `done` for `true`,
and 10 sandboxes at once (failures counted) against 10 concurrent `docker run`s.

An embedded server (SQLite, its sandbox worker in-process) serves on loopback; the sandboxes
are created over HTTP as the SDK does, and the first byte is read from `logs/stdout`."""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import Row, Summary, Target, log, ms

IMAGE = "tilde-test/busybox:latest"
TERMINAL = {"done", "errored", "failed", "cancelled"}


def docker_run(*argv: str) -> tuple[float, float]:
    """(seconds to the first output byte, seconds to exit) of `docker run --rm IMAGE argv`."""
    started = time.perf_counter()
    proc = subprocess.Popen(["docker", "run", "--rm", IMAGE, *argv], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    first = proc.stdout.read(1)
    first_at = time.perf_counter() - started if first else float("nan")
    proc.stdout.read()
    proc.wait()
    return first_at, time.perf_counter() - started


class Api:
    """The few calls the SDK makes for a sandbox, on one keep-alive client."""

    def __init__(self, base: str, token: str, org: str, repo: str) -> None:
        self.http = httpx.Client(
            base_url=f"{base}/api/v1/organizations/{org}/repositories/{repo}/sandboxes",
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )

    def create(self, command: list[str]) -> str:
        response = self.http.post("", json={"image": IMAGE, "command": command})
        response.raise_for_status()
        return str(response.json()["sandbox_id"])

    def first_byte(self, sandbox_id: str) -> bytes:
        with self.http.stream("GET", f"/{sandbox_id}/logs/stdout") as response:
            response.raise_for_status()
            for data in response.iter_raw():
                if data:
                    return data
        return b""

    def wait(self, sandbox_id: str, poll: float = 0.01) -> dict[str, Any]:
        while True:
            status: dict[str, Any] = self.http.get(f"/{sandbox_id}/status").json()
            if status["status"] in TERMINAL:
                return status
            time.sleep(poll)


def serve(tmp: Path, slots: int) -> tuple[Any, Any, Api]:
    """An embedded server with one owner, organization and repository."""
    import tilde

    from infra.bootstrap import bootstrap
    from tests.builders import name
    from tests.conftest import FAST_HASHER, LiveServer, make_settings
    from tests.orgs import person

    settings = make_settings(tmp, "sqlite", sandbox_max_concurrent=slots, log_level="ERROR")
    container = bootstrap(settings, hasher=FAST_HASHER)
    server = LiveServer(container).__enter__()
    owner = person(container)
    with tilde.Client(endpoint_url=server.url, api_key=owner.token) as sdk:
        org = sdk.organizations.create(name("bench-"), display_name="bench").name
        sdk.organizations.get(org).repositories.create("bench", description="bench")
    return container, server, Api(server.url, owner.token, org, "bench")


def concurrent(n: int, fn: Any) -> tuple[float, list[Any]]:
    results: list[Any] = [None] * n

    def one(i: int) -> None:
        try:
            results[i] = fn()
        except Exception as e:  # counted as a failure
            results[i] = e

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, results


def run(args: argparse.Namespace) -> list[Row]:
    samples = 3 if args.quick else 10
    parallel = 10
    with tempfile.TemporaryDirectory(prefix="bench-sbx-", ignore_cleanup_errors=True) as tmp:
        container, server, api = serve(Path(tmp), slots=parallel)
        try:
            log("e2e: warming the image and the worker")
            docker_run("true")
            api.wait(api.create(["true"]))
            first, done, base_first, base_done = [], [], [], []
            for _ in range(samples):
                started = time.perf_counter()
                sid = api.create(["echo", "hi"])
                api.first_byte(sid)
                first.append(time.perf_counter() - started)
                api.wait(sid)
                started = time.perf_counter()
                status = api.wait(api.create(["true"]))
                done.append(time.perf_counter() - started)
                assert status["status"] == "done", status
                f, _ = docker_run("echo", "hi")
                base_first.append(f)
                base_done.append(docker_run("true")[1])
            log(f"e2e: {parallel} sandboxes at once")
            wall, outcomes = concurrent(parallel, lambda: api.wait(api.create(["true"])))
            failures = sum(
                1 for o in outcomes if not isinstance(o, dict) or o.get("status") != "done"
            )
            base_wall, base_outcomes = concurrent(parallel, lambda: docker_run("true"))
        finally:
            server.__exit__(None, None, None)
            container.close()
    p50 = Summary.of
    return [
        Row(
            "create → first log byte (echo), p50 warm",
            "ms",
            ms(p50(first).p50),
            ms(p50(base_first).p50),
            Target("<=", 1000.0, "≤ 1 s"),
            {"p90_ms": ms(p50(first).p90), "samples": samples},
        ),
        Row(
            "create → done (true), p50",
            "ms",
            ms(p50(done).p50),
            ms(p50(base_done).p50),
            None,
            {"p90_ms": ms(p50(done).p90), "samples": samples},
        ),
        Row(
            f"{parallel} concurrent sandboxes (true), wall",
            "ms",
            ms(wall),
            ms(base_wall),
            None,
            {"failures": failures},
        ),
        Row(
            f"{parallel} concurrent sandboxes, failures",
            " failed",
            float(failures),
            float(sum(1 for o in base_outcomes if isinstance(o, Exception))),
            Target("<=", 0.0, "0 failures"),
        ),
    ]
