"""The bare-HTTP baseline of metrics 4 and 5: an ASGI app under uvicorn answering the SDK's
requests with constant bodies, run in a child process (`python3 -m bench.catalog --echo PORT`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.catalog.config import ETAG


def echo_app(port: int) -> Callable[..., Any]:
    """A bare ASGI app answering the SDK's three upload requests, sessions, a 307 and
    /health with constant bodies: the HTTP floor of client + uvicorn on this machine."""

    async def app(
        scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        digest = hashlib.md5(usedforsecurity=False)
        more = True
        while more:
            message = await receive()
            digest.update(message.get("body", b""))
            more = message.get("more_body", False)
        method, path = scope["method"], scope["path"]
        status, headers, body = 200, [(b"content-type", b"application/json")], b"{}"
        if method == "POST" and path.endswith("/sessions"):
            status, body = 201, json.dumps({"session_id": str(uuid.uuid4())}).encode()
        elif method == "PUT" and path.endswith("/object"):
            url = f"http://127.0.0.1:{port}/_blob/{uuid.uuid4().hex}?sig=x"
            body = json.dumps({"upload_url": url, "upload_token": "t" * 200}).encode()
        elif method == "PUT" and path.startswith("/_blob/"):
            headers.append((b"etag", f'"{digest.hexdigest()}"'.encode()))
        elif method == "POST" and path.endswith("/object/finalize"):
            body = json.dumps({"path": "p", "etag": f'"{ETAG}"'}).encode()
        elif method == "GET" and path.endswith("/object"):
            status, body = 307, b""
            headers = [
                (b"location", f"http://127.0.0.1:{port}/_blob/x?sig={'s' * 64}".encode()),
                (b"cache-control", b"no-store"),
            ]
        elif path == "/health":
            body = b'{"status":"ok"}'
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def serve_echo(port: int) -> None:
    import uvicorn

    uvicorn.run(
        echo_app(port), host="127.0.0.1", port=port, log_config=None, access_log=False,
        timeout_keep_alive=30,
    )  # fmt: skip


@contextlib.contextmanager
def echo_server() -> Iterator[tuple[str, int]]:
    from tests import services

    port = services.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.catalog", "--echo", str(port)],
        cwd=str(Path(__file__).resolve().parents[2]),  # the repository root
    )
    try:
        services.wait_port(port)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)
