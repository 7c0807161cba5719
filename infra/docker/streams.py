"""Docker's multiplexed stream format on a hijacked socket: 8-byte headers (stream, size)."""

from __future__ import annotations

import socket
import struct
from typing import Any

HEADER = struct.Struct(">BxxxL")
CHUNK = 64 * 1024


UPGRADE = {"Connection": "Upgrade", "Upgrade": "tcp"}


class Hijacked:
    """An upgraded engine connection: reads go through the HTTP response's buffer (the engine
    may send output right behind its 101 headers, which the HTTP parser has already buffered;
    docker-py's raw socket would lose those bytes), writes and shutdown through the socket."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self.reader = response.raw._fp.fp
        raw = self.reader.raw
        self.sock: socket.socket = getattr(raw, "_sock", raw)
        self.sock.settimeout(None)

    def read1(self, size: int) -> bytes:
        return self.reader.read1(size)  # type: ignore[no-any-return]

    def recv(self, size: int) -> bytes:
        return self.read1(size)

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            self._response.close()


def hijack(
    api: Any, path: str, *, params: dict[str, Any] | None = None, body: Any = None
) -> Hijacked:
    """POST `path` upgraded to a raw stream (attach, exec start)."""
    url = api._url(path)
    if body is None:
        response = api._post(url, params=params, headers=UPGRADE, stream=True)
    else:
        response = api._post_json(url, params=params, headers=UPGRADE, data=body, stream=True)
    api._raise_for_status(response)
    return Hijacked(response)


class FrameReader:
    """Reads (1 stdout | 2 stderr, bytes) chunks of at most `CHUNK` bytes until EOF."""

    def __init__(self, sock: Hijacked) -> None:
        self._sock = sock
        self._stream = 0
        self._left = 0

    def _exact(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            part = self._sock.read1(size - len(data))
            if not part:
                return None
            data += part
        return data

    def read(self) -> tuple[int, bytes] | None:
        while True:
            if self._left == 0:
                try:
                    header = self._exact(HEADER.size)
                except OSError:
                    return None
                if header is None:
                    return None
                self._stream, self._left = HEADER.unpack(header)
                continue
            try:
                data = self._sock.read1(min(self._left, CHUNK))
            except OSError:
                return None
            if not data:
                return None
            self._left -= len(data)
            # Stream 0 (stdin) is never echoed by a non-TTY exec; skip whatever else comes.
            if self._stream in (1, 2):
                return self._stream, data
