"""Phase `credentials`: in-sandbox credentials on the real Docker engine (the python image with
the SDK). From inside one sandbox: `GET $TILDE_SANDBOX_CREDENTIALS_URI` (p50, a new connection
each, as the SDK's own fetch client does) beside an authenticated API call through the relay
(`GET $TILDE_API_URL/api/v1/auth/me` with that token, on a kept connection as the SDK's);
that relayed call beside the same call made directly on loopback from the host; and issuing
a new token (one event) beside handing out the held one, in-process."""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.common import Row, Summary, log, ms
from bench.sandboxes.e2e import serve

IMAGE = "tilde-test/python-sdk:3"

INSIDE = r"""
import http.client, json, os, sys, time, urllib.parse, urllib.request
n = int(sys.argv[1])
uri = os.environ["TILDE_SANDBOX_CREDENTIALS_URI"]
def fetch(url):
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read()
    return time.perf_counter() - t, body
def keep_alive(origin, token):
    # One kept connection, as the SDK's httpx client holds one.
    api = urllib.parse.urlsplit(origin)
    conn = http.client.HTTPConnection(api.hostname, api.port, timeout=10)
    def call():
        t = time.perf_counter()
        conn.request("GET", "/api/v1/auth/me", headers={"Authorization": "Bearer " + token})
        conn.getresponse().read()
        return time.perf_counter() - t
    return call
token = json.loads(fetch(uri)[1])["access_token"]
me = keep_alive(os.environ["TILDE_API_URL"], token)
me()
creds, relayed = [], []
for _ in range(n):
    creds.append(fetch(uri)[0])
    relayed.append(me())
print(json.dumps({"creds": creds, "relayed": relayed}))
"""


def direct_calls(origin: str, token: str, samples: int) -> list[float]:
    """`auth/me` from the host straight to the API, on one kept connection (as inside)."""
    parts = urlsplit(origin)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    took = []
    for i in range(samples + 1):
        started = time.perf_counter()
        conn.request("GET", "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        conn.getresponse().read()
        if i:
            took.append(time.perf_counter() - started)
    conn.close()
    return took


def run(args: argparse.Namespace) -> list[Row]:
    from tests.docker_env import build_python_sdk, docker_client

    build_python_sdk(docker_client())
    samples = 30 if args.quick else 200
    with tempfile.TemporaryDirectory(prefix="bench-creds-", ignore_cleanup_errors=True) as tmp:
        container, server, api = serve(Path(tmp), slots=2)
        try:
            log("credentials: fetches and relayed calls from inside a sandbox")
            response = api.http.post(
                "", json={"image": IMAGE, "command": ["python3", "-c", INSIDE, str(samples)]}
            )
            response.raise_for_status()
            sandbox_id = str(response.json()["sandbox_id"])
            status = api.wait(sandbox_id, poll=0.1)
            text = api.http.get(f"/{sandbox_id}/logs/stdout").text
            assert status["status"] == "done", (status, text)
            inside: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
            # The same call from the host, straight to the API on loopback (the token is
            # revoked now: use the owner's key, the same authentication path).
            key = api.http.headers["Authorization"].removeprefix("Bearer ")
            direct = direct_calls(server.url, key, samples)
            log("credentials: issuing a new token vs handing out the held one")
            issue, held = issue_costs(container, api, samples)
        finally:
            server.__exit__(None, None, None)
            container.close()
    of = Summary.of
    return [
        Row(
            "credential fetch from inside (GET /v1/credentials), p50",
            "ms",
            ms(of(inside["creds"]).p50),
            ms(of(inside["relayed"]).p50),
            None,
            {
                "p90_ms": ms(of(inside["creds"]).p90),
                "samples": samples,
                "baseline": "GET $TILDE_API_URL/api/v1/auth/me from inside (relay + API)",
            },
        ),
        Row(
            "API call through the sandbox relay (auth/me), p50",
            "ms",
            ms(of(inside["relayed"]).p50),
            ms(of(direct).p50),
            None,
            {
                "p90_ms": ms(of(inside["relayed"]).p90),
                "baseline": "the same call from the host on loopback",
            },
        ),
        Row(
            "new sandbox token (one event), p50",
            "ms",
            ms(of(issue).p50),
            ms(of(held).p50),
            None,
            {"baseline": "the held token handed out again (no write)"},
        ),
    ]


def issue_costs(container: Any, api: Any, samples: int) -> tuple[list[float], list[float]]:
    """In-process: the endpoint's answer with a fresh token each time vs the held one."""
    service = container.services["sandbox_credentials"]
    response = api.http.post("", json={"image": IMAGE, "command": ["sleep", "60"]})
    response.raise_for_status()
    sandbox_id = str(response.json()["sandbox_id"])
    deadline = time.monotonic() + 60
    while not service.serving(sandbox_id):
        assert time.monotonic() < deadline, "the sandbox's endpoint never opened"
        time.sleep(0.05)
    issue, held = [], []
    for _ in range(samples):
        service.forget(sandbox_id)
        started = time.perf_counter()
        assert service.credentials(sandbox_id)[0] == 200
        issue.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert service.credentials(sandbox_id)[0] == 200
        held.append(time.perf_counter() - started)
    api.http.delete(f"/{sandbox_id}")
    api.wait(sandbox_id, poll=0.1)
    return issue, held
