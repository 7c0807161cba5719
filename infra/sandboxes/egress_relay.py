"""Moving a proxied connection's bytes once the proxy has decided: two blocking threads, one
per direction, with `os.splice` through a pipe (the bytes never enter Python) where Linux
offers it, `recv_into`/`sendall` otherwise.

*Measured* (bench.sandboxes egress, 100 MiB from a container on a bridge): copying through
asyncio streams reached 40-72 % of a direct download; splicing is what meets the ≥ 80 % target.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
from collections.abc import Callable

CHUNK = 1 << 20
_SPLICE = hasattr(os, "splice")
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def _copy(src: socket.socket, dst: socket.socket) -> int:
    """Everything `src` sends until EOF into `dst`; the bytes moved (stops on any error)."""
    moved = 0
    try:
        if _SPLICE:
            read_end, write_end = os.pipe()
            with contextlib.suppress(OSError):  # fewer, larger splices (up to the pipe-max-size)
                fcntl.fcntl(write_end, F_SETPIPE_SZ, CHUNK)
            try:
                while True:
                    n = os.splice(src.fileno(), write_end, CHUNK)
                    if n == 0:
                        break
                    moved += n
                    while n:
                        n -= os.splice(read_end, dst.fileno(), n)
            finally:
                os.close(read_end)
                os.close(write_end)
        else:
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            while n := src.recv_into(buffer):
                dst.sendall(view[:n])
                moved += n
    except OSError:
        pass
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)
    return moved


def relay(
    client: socket.socket,
    upstream: socket.socket,
    counts: list[int],
    on_first: Callable[[bytes], None] | None = None,
) -> None:
    """Both directions, blocking, until the upstream is done; then both sockets are shut
    (a tunnel ends with its upstream). `counts` = [bytes from upstream, bytes to upstream]."""
    client.setblocking(True)
    upstream.setblocking(True)

    def outgoing() -> None:
        counts[1] += _copy(client, upstream)

    sender = threading.Thread(target=outgoing, name="egress-out", daemon=True)
    sender.start()  # first: an upstream may wait for the request body before answering
    if on_first is not None:
        with contextlib.suppress(OSError):
            on_first(upstream.recv(512, socket.MSG_PEEK))
    counts[0] += _copy(upstream, client)
    for sock in (client, upstream):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    sender.join(5)
