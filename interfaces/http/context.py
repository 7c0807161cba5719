"""Per-request context: request id, client address, timing, access log and metrics."""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from litestar.types import Message, Receive, Scope, Send

from domain.shared.ids import random_hex

log = structlog.get_logger("tilde.http")
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def request_id(scope: Any) -> str:
    """The request's id (created on first use, so even unrouted requests have one)."""
    state = scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        incoming = ""
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
        rid = incoming if _INCOMING_ID.match(incoming) else f"req-{random_hex()}"
        state["request_id"] = rid
    return str(rid)


def client_ip(scope: Any, *, trust_forwarded_for: bool) -> str:
    if trust_forwarded_for:
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-for":
                return value.decode("latin-1").split(",")[0].strip()[:64]
    client = scope.get("client")
    return client[0] if client else "unknown"


async def observe(
    app: Any,
    scope: Scope,
    receive: Receive,
    send: Send,
    metrics: Any,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    """Run one HTTP request with a request id, the `X-Request-ID` header (then `headers`, the
    security headers: one wrapper of `send` for both), metrics and a log."""
    rid = request_id(scope)
    started = time.perf_counter()
    status = {"code": 500}
    added = ((b"x-request-id", rid.encode()), *headers)

    async def send_wrapper(message: Message) -> None:
        if message["type"] == "http.response.start":
            status["code"] = message["status"]
            message = {**message, "headers": [*message.get("headers", ()), *added]}  # type: ignore[typeddict-item]
        await send(message)

    structlog.contextvars.bind_contextvars(request_id=rid)
    try:
        await app(scope, receive, send_wrapper)
    finally:
        elapsed = time.perf_counter() - started
        route = str(scope.get("path_template") or "unmatched")
        method = scope.get("method", "")
        code = str(status["code"])
        metrics.requests.labels(route, method, code).inc()
        metrics.latency.labels(route, method, code).observe(elapsed)
        log.info(
            "request",
            method=method,
            route=route,
            status=status["code"],
            duration_ms=round(elapsed * 1000, 2),
        )
        structlog.contextvars.unbind_contextvars("request_id", "sandbox_id")
