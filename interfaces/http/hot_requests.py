"""Reading an ASGI request the way Litestar would, for the hot paths: the query, a header, the
declared length and the body, each raising `Fallback` when Litestar might read it another way
(so Litestar answers it, with the body messages already received replayed first)."""

from __future__ import annotations

from litestar._parsers import parse_query_string
from litestar.types import Receive, ReceiveMessage, Scope

from interfaces.http.controllers.blobs import MAX_DIGITS


class Fallback(Exception):
    """Not the steady case: Litestar answers the request (with `messages` replayed first,
    when the fast path already received them)."""

    def __init__(self, messages: list[ReceiveMessage] | None = None) -> None:
        super().__init__()
        self.messages = messages or []


def query_of(scope: Scope) -> dict[str, str]:
    """The query as Litestar parses it; Fallback on anything its guard would refuse or its
    parameter parsing might read another way (a repeated name, a blank value, a NUL)."""
    found: dict[str, str] = {}
    for name, value in parse_query_string(scope.get("query_string", b"")):
        if name in found or not value or "\x00" in name or "\x00" in value:
            raise Fallback
        found[name] = value
    return found


def header_of(scope: Scope, name: bytes) -> str | None:
    """The one value of a header; Fallback when it is given more than once."""
    value = None
    for key, raw in scope["headers"]:
        if key == name:
            if value is not None:
                raise Fallback
            value = raw.decode("latin-1")
    return value


def declared_length(scope: Scope, limit: int) -> int:
    """The Content-Length when it is plain digits within `limit`; Fallback otherwise."""
    declared = header_of(scope, b"content-length")
    if declared is None or not (declared.isascii() and declared.isdigit()):
        raise Fallback
    if len(declared) > MAX_DIGITS or int(declared) > limit:
        raise Fallback
    return int(declared)


async def receive_body(receive: Receive, declared: int) -> tuple[bytes, list[ReceiveMessage]]:
    """The whole body of `declared` bytes, and the messages it came in. Fallback (with those
    messages, for Litestar to see again) on a disconnect or any other length."""
    messages: list[ReceiveMessage] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            raise Fallback(messages)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > declared:
            raise Fallback(messages)
        chunks.append(chunk)
        if not message.get("more_body", False):
            if size != declared:
                raise Fallback(messages)
            return b"".join(chunks), messages


def replaying(messages: list[ReceiveMessage], receive: Receive) -> Receive:
    pending = list(messages)

    async def again() -> ReceiveMessage:
        if pending:
            return pending.pop(0)
        return await receive()

    return again
