"""The transfer floor of metric 6: what a minimal HTTP server (no framework, no event loop)
achieves for the same job on this machine, measured with the SDK's own HTTP client the way
the SDK uses it.

A blocking socket server (a thread per connection, no framework, no event loop) that
- answers `PUT` by reading the body in 1 MiB reads, hashing it with MD5 (the part ETag S3 and
  the SDK expect), writing it to a file and fsyncing it before it answers;
- answers `PUT /discard/…` by reading the body into one reused buffer and dropping it: no
  server can receive faster, so this is the ceiling of the SDK's client and the loopback
  (the file read into memory, then sent), whatever the server does with the bytes;
- answers `GET` with one `sendfile` of the whole file (zero-copy, no user-space pass).
The client side repeats what `session.objects.put(path, Path)` and `objects.get(...,
cache=False).iter_bytes(MiB)` do on the wire: read a 64 MiB part from the source file, PUT it
(one after the other), and stream a GET into a file in 1 MiB chunks, on `client._http` (the
SDK's `httpx.Client`). Tilde's numbers beside these show what its server costs over a
minimal one (Tilde overlaps hashing and writing with receiving, which this server does not,
so it can come out ahead); most of the distance from both to `copyfile` is the client's and
the machine's: an HTTP client handling 64 KiB reads in Python, the part read into memory
before it is sent, MD5 at ≈ 0.7 GB/s on one core.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

from tilde.resources.objects import MULTIPART_PART_SIZE

MiB = 1 << 20


class FloorServer:
    """PUT /<name> stores a body (MD5, write, fsync); GET /<name> sends it back."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> FloorServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb", buffering=MiB) as stream:
            while True:
                request = stream.readline()
                if not request:
                    return
                method, target = request.split()[:2]
                length = 0
                while (line := stream.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                path = self.root / target.decode().strip("/").replace("/", "_")
                if method == b"PUT" and target.startswith(b"/discard/"):
                    _discard(stream, length)
                    conn.sendall(b'HTTP/1.1 200 OK\r\nETag: "0"\r\nContent-Length: 0\r\n\r\n')
                elif method == b"PUT":
                    etag = _store(stream, length, path)
                    conn.sendall(b'HTTP/1.1 200 OK\r\nETag: "%s"\r\n' % etag.encode()
                                 + b"Content-Length: 0\r\n\r\n")  # fmt: skip
                else:
                    size = path.stat().st_size
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                 b"Content-Length: %d\r\n\r\n" % size)  # fmt: skip
                    with open(path, "rb") as f:
                        conn.sendfile(f)


def _store(stream: object, length: int, path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    read = stream.read  # type: ignore[attr-defined]
    with open(path, "wb") as out:
        left = length
        while left:
            chunk = read(min(left, MiB))
            if not chunk:
                raise ConnectionError("the body ended early")
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _discard(stream: object, length: int) -> None:
    buffer = memoryview(bytearray(MiB))
    readinto = stream.readinto  # type: ignore[attr-defined]
    left = length
    while left:
        got = readinto(buffer[: min(left, MiB)])
        if not got:
            raise ConnectionError("the body ended early")
        left -= got


@contextlib.contextmanager
def floor_server(root: Path) -> Iterator[FloorServer]:
    root.mkdir(parents=True, exist_ok=True)
    with FloorServer(root) as server:
        yield server


def sdk_style_upload(http: object, url: str, source: Path) -> list[str]:
    """The SDK's multipart loop on the wire: read a part, PUT it, next (ETags back)."""
    etags = []
    with open(source, "rb") as f:
        number = 1
        while chunk := f.read(MULTIPART_PART_SIZE):
            response = http.put(  # type: ignore[attr-defined]
                f"{url}/part{number}", content=chunk,
                headers={"Content-Type": "application/octet-stream"},
            )  # fmt: skip
            response.raise_for_status()
            etags.append(response.headers["etag"])
            number += 1
    return etags


def sdk_style_download(http: object, url: str, target: Path) -> None:
    """`objects.get(..., cache=False)` + `iter_bytes(MiB)` into a file, on the wire."""
    with http.stream("GET", url) as response, open(target, "wb") as out:  # type: ignore[attr-defined]
        response.raise_for_status()
        for chunk in response.iter_bytes(chunk_size=MiB):
            out.write(chunk)
