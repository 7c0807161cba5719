"""Small bodies made durable by a helper process when the disk is slow, so the event loop
does not wait for slow fsyncs and no thread of the server trades the GIL back and forth for
each of a write's system calls.

A small upload or part (`PUT /_blob/…` with a body of at most 1 MiB, read whole by the hot
path) is stored by `LocalBlobStore.store`: about a dozen system calls, three of them fsyncs
(the file, its scratch directory, the directory it is renamed into). While the disk's fsyncs
are quick the loop does it itself (`interfaces.http.hot_calls.DiskOnLoop`), the cheapest in
CPU. When they are slow, the loop would serve nothing else meanwhile, and on a worker thread
each call is a point where the thread must win the GIL back from the busy loop (up to the
switch interval, 5 ms, each), which cost more CPU than the write.

`WriterProcess` hands the body to a child process (`python -m infra.localfs.writer_process`)
over a socket pair and awaits its answer on the loop (`add_reader`): the loop's part is one
`send` and, later, one `recv` per batch of answers. The child runs the same
`LocalBlobStore.store` on a few threads of its own (their fsyncs can share the filesystem's
journal commits), so the layout, the checks and the errors are the in-process ones. The answer
is sent only after the blob is durable, and the server answers the client only after that.

If the child is not there (it could not start, it died, it is restarting), `store` raises
`Unavailable` and the caller stores the body on a worker thread: a write the child may have
finished is harmless to repeat (the same bytes at the same address answer the same ETag). A
dead child is started again at the first call `RETRY_AFTER` seconds later. The child ends
when its socket closes: when the server closes the writer, exits, or is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from application.ports import BlobInfo
from domain.shared import errors
from infra.localfs.signing import UPLOAD, Grant

# (request id, header length, body length); the header is JSON, the body the bytes to store.
_FRAME = struct.Struct("!QII")
# Stores the child runs at once (each is mostly waiting for fsyncs).
THREADS = 4
RETRY_AFTER = 5.0


class Unavailable(Exception):
    """The helper process cannot take the write now: store it another way."""


def _request(request_id: int, grant: Grant, body: bytes) -> bytes:
    header = json.dumps(
        {
            "operation": grant.operation,
            "address": grant.address,
            "upload_id": grant.upload_id,
            "part_number": grant.part_number,
        }
    ).encode()
    return _FRAME.pack(request_id, len(header), len(body)) + header + body


def _answer(request_id: int, outcome: dict[str, Any]) -> bytes:
    header = json.dumps(outcome).encode()
    return _FRAME.pack(request_id, len(header), 0) + header


def _outcome(
    store: Callable[[Grant, bytes], BlobInfo], grant: Grant, body: bytes
) -> dict[str, Any]:
    """What the parent needs to answer as if it had called `store` itself."""
    try:
        info = store(grant, body)
    except errors.DomainError as e:
        return {"error": type(e).__name__, "message": e.message, "code": e.code}
    except OSError as e:
        return {"error": "OSError", "errno": e.errno or 0, "message": e.strerror or str(e)}
    except Exception as e:
        return {"error": "Exception", "message": f"{type(e).__name__}: {e}"}
    return {"size": info.size, "etag": info.etag}


def _raised(outcome: dict[str, Any]) -> Exception:
    kind, message = outcome["error"], outcome.get("message", "")
    if kind == "OSError":
        return OSError(outcome.get("errno", 0), message)
    error = getattr(errors, kind, None)
    if isinstance(error, type) and issubclass(error, errors.DomainError):
        return error(message, code=outcome.get("code"))
    return RuntimeError(f"the blob writer process failed: {message}")


class WriterProcess:
    """The parent's side: one child per writer, started at the first `store`, answers awaited
    on the event loop that sends the requests (see the module)."""

    def __init__(self, root: Path, retry_after: float = RETRY_AFTER) -> None:
        self.root = Path(root)
        self.retry_after = retry_after
        self.proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[int, asyncio.Future[BlobInfo]] = {}
        self._ids = itertools.count(1)
        self._out = bytearray()
        self._in = bytearray()
        self._down_until = 0.0
        self._finalizer: weakref.finalize[Any, WriterProcess] | None = None

    async def store(self, grant: Grant, body: bytes) -> BlobInfo:
        """`LocalBlobStore.store(grant, body)` done by the child; Unavailable when it cannot
        take it (the write may then be repeated elsewhere: it is idempotent)."""
        loop = asyncio.get_running_loop()
        sock = self._attach(loop)
        request_id = next(self._ids)
        answer: asyncio.Future[BlobInfo] = loop.create_future()
        self._pending[request_id] = answer
        self._send(loop, sock, _request(request_id, grant, body))
        return await answer

    def close(self) -> None:
        """Stop taking writes; the child finishes the ones it holds and exits."""
        self._down(Unavailable("the blob writer process was closed"), retry_after=float("inf"))

    # -- the child and the loop it answers on ------------------------------------------------
    def _attach(self, loop: asyncio.AbstractEventLoop) -> socket.socket:
        if self._sock is not None and self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                raise Unavailable("the blob writer process answers on another event loop")
            self._loop = None  # that loop is gone (tests run one per request): take this one
        if self._sock is None:
            if time.monotonic() < self._down_until:
                raise Unavailable("the blob writer process is restarting")
            self._start()
        assert self._sock is not None
        if self._loop is None:
            loop.add_reader(self._sock.fileno(), self._readable)
            if self._out:  # the rest of a request the closed loop was still sending
                loop.add_writer(self._sock.fileno(), self._writable)
            self._loop = loop
        return self._sock

    def _start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = subprocess.Popen(  # noqa: S603 — this interpreter, this module
                [sys.executable, "-m", "infra.localfs.writer_process", str(self.root)],
                stdin=child.fileno(),
                stdout=subprocess.DEVNULL,
                close_fds=True,
                cwd=str(Path(__file__).resolve().parents[2]),
            )
        except OSError as e:
            parent.close()
            self._down_until = time.monotonic() + self.retry_after
            raise Unavailable(f"the blob writer process could not start: {e}") from e
        finally:
            child.close()
        parent.setblocking(False)
        self._sock, self._out, self._in = parent, bytearray(), bytearray()
        # Dropped without close() (a test's app): the socket's end makes the child exit.
        self._finalizer = weakref.finalize(self, parent.close)

    def _send(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, data: bytes) -> None:
        if not self._out:
            try:
                sent = sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as e:
                self._down(Unavailable(f"the blob writer process is gone: {e}"))
                return
            if sent == len(data):
                return
            data = data[sent:]
            loop.add_writer(sock.fileno(), self._writable)
        self._out += data

    def _writable(self) -> None:
        if self._sock is None:
            return
        try:
            sent = self._sock.send(self._out)
        except BlockingIOError:
            return
        except OSError as e:
            self._down(Unavailable(f"the blob writer process is gone: {e}"))
            return
        del self._out[:sent]
        if not self._out and self._loop is not None:
            self._loop.remove_writer(self._sock.fileno())

    def _readable(self) -> None:
        if self._sock is None:
            return
        try:
            data = self._sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError as e:
            self._down(Unavailable(f"the blob writer process is gone: {e}"))
            return
        if not data:
            self._down(Unavailable("the blob writer process exited"))
            return
        self._in += data
        while len(self._in) >= _FRAME.size:
            request_id, length, _ = _FRAME.unpack_from(self._in)
            end = _FRAME.size + length
            if len(self._in) < end:
                break
            outcome = json.loads(bytes(self._in[_FRAME.size : end]))
            del self._in[:end]
            answer = self._pending.pop(request_id, None)
            if answer is None or answer.done() or answer.get_loop().is_closed():
                continue  # its request was cancelled meanwhile, or its loop is gone
            if "error" in outcome:
                answer.set_exception(_raised(outcome))
            else:
                answer.set_result(BlobInfo(outcome["size"], outcome["etag"]))

    def _down(self, error: Exception, retry_after: float | None = None) -> None:
        """The child is gone or closed: every write it held fails with `error` (the callers
        store those another way), and a new child starts at a call `retry_after` later."""
        sock, loop = self._sock, self._loop
        self._sock = self._loop = None
        if sock is not None:
            if loop is not None and not loop.is_closed():
                loop.remove_reader(sock.fileno())
                loop.remove_writer(sock.fileno())
            sock.close()
        if self._finalizer is not None:
            self._finalizer.detach()
        pending, self._pending = self._pending, {}
        for answer in pending.values():
            if not answer.done():
                answer.set_exception(error)
        wait = self.retry_after if retry_after is None else retry_after
        self._down_until = time.monotonic() + wait
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=0)  # reaped now if it has exited, else by subprocess


# -- the child ------------------------------------------------------------------------------
def serve(sock: socket.socket, root: Path) -> None:
    """Store each request's body (`LocalBlobStore.store`) and answer it once durable; return
    when the parent closes its end, after the writes already taken have finished."""
    from infra.localfs.blob_store import LocalBlobStore

    # The store's URL signing is never used here; stores need a non-empty secret.
    store = LocalBlobStore(root, "http://writer.invalid", "unused").store
    send = threading.Lock()
    reader = sock.makefile("rb", buffering=1 << 20)

    def run(request_id: int, grant: Grant, body: bytes) -> None:
        answer = _answer(request_id, _outcome(store, grant, body))
        with send, contextlib.suppress(OSError):  # else the parent is gone: none to answer
            sock.sendall(answer)

    with ThreadPoolExecutor(THREADS, thread_name_prefix="blob-writer") as pool:
        try:
            while head := reader.read(_FRAME.size):
                if len(head) < _FRAME.size:
                    break
                request_id, header_length, body_length = _FRAME.unpack(head)
                header = json.loads(reader.read(header_length))
                body = reader.read(body_length)
                if len(body) < body_length:
                    break  # the parent went away mid-request: nothing to answer
                grant = Grant(
                    operation=str(header.get("operation", UPLOAD)),
                    address=str(header["address"]),
                    expires=0,
                    upload_id=str(header.get("upload_id", "")),
                    part_number=int(header.get("part_number", 0)),
                )
                pool.submit(run, request_id, grant, body)
        except ConnectionResetError:
            # The parent closed its end with answers of ours unread (a Unix socket then
            # resets): it went away, as at the end of the stream. The writes taken still
            # finish (the pool's exit waits for them); their answers go nowhere.
            pass


def main(argv: list[str]) -> None:
    # Ctrl-C in a terminal reaches the whole process group: the server stops and closes the
    # socket, and this process ends then, after the writes it holds.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The parent's end of the socket pair is this process's stdin.
    sock = socket.socket(fileno=os.dup(0))
    os.close(0)
    try:
        serve(sock, Path(argv[0]))
    finally:
        sock.close()


if __name__ == "__main__":
    main(sys.argv[1:])
