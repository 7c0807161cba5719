"""Docker's multiplexed stream format on a hijacked socket: 8-byte headers (stream, size)."""

from __future__ import annotations

import socket
import struct
from typing import Any

HEADER = struct.Struct(">BxxxL")
CHUNK = 64 * 1024


def raw_socket(sock: Any) -> socket.socket:
    """The `socket.socket` under what docker-py returns (a SocketIO for unix sockets)."""
    inner = getattr(sock, "_sock", sock)
    inner.settimeout(None)
    return inner  # type: ignore[no-any-return]


class FrameReader:
    """Reads (1 stdout | 2 stderr, bytes) chunks of at most `CHUNK` bytes until EOF."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._stream = 0
        self._left = 0

    def _exact(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            part = self._sock.recv(size - len(data))
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
                data = self._sock.recv(min(self._left, CHUNK))
            except OSError:
                return None
            if not data:
                return None
            self._left -= len(data)
            # Stream 0 (stdin) is never echoed by a non-TTY exec; skip whatever else comes.
            if self._stream in (1, 2):
                return self._stream, data
