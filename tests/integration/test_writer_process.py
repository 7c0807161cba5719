"""The blob writer process (`infra.localfs.writer_process`): a small body stored by the child
ends up exactly as `LocalBlobStore.store` leaves it, its refusals are the same errors, and a
child that is gone or closed makes `store` answer `Unavailable` (the caller then writes on a
thread) instead of losing or hanging a write."""

from __future__ import annotations

import asyncio
import gc
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from application.ports import BlobInfo
from domain.shared.errors import Conflict, NotFound
from infra import blobs
from infra.localfs import LocalBlobStore
from infra.localfs.signing import PART, UPLOAD, Grant
from infra.localfs.writer_process import Unavailable, WriterProcess, _request
from tests.catalog_helpers import md5

REPO = "0" * 32


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", "http://test.invalid", "secret")


def upload(address: str) -> Grant:
    return Grant(UPLOAD, address, int(time.time()) + 60)


def outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as e:
        return type(e).__name__, str(e)


def test_the_child_stores_as_the_store_does_and_refuses_alike(store: LocalBlobStore) -> None:
    writer = WriterProcess(store.root)
    address = blobs.new_address(REPO)
    body = b"small body\n" * 10
    other = blobs.new_address(REPO)

    async def run(coro: Any) -> tuple[str, Any]:
        try:
            return "ok", await coro
        except Exception as e:
            return type(e).__name__, str(e)

    async def through_child() -> list[tuple[str, Any]]:
        return [
            await run(writer.store(upload(address), body)),
            # The same bytes again: a harmless retry, the same answer.
            await run(writer.store(upload(address), body)),
            # Other bytes at a stored address: refused, the blob untouched.
            await run(writer.store(upload(address), b"other bytes")),
            # A part of an upload that does not exist (or was completed).
            await run(writer.store(Grant(PART, other, 0, upload_id="f" * 32, part_number=1), body)),
        ]

    try:
        child = asyncio.run(through_child())
        assert writer.proc is not None and writer.proc.poll() is None
    finally:
        writer.close()
    assert child[0] == ("ok", BlobInfo(len(body), md5(body)))
    assert child[1] == child[0]
    assert child[2][0] == "Conflict" and child[3][0] == "NotFound"
    # In process, on a fresh address, the same calls answer the same.
    fresh = blobs.new_address(REPO)
    here = [
        outcome(lambda: store.store(upload(fresh), body)),
        outcome(lambda: store.store(upload(fresh), body)),
        outcome(lambda: store.store(upload(fresh), b"other bytes")),
        outcome(
            lambda: store.store(Grant(PART, other, 0, upload_id="f" * 32, part_number=1), body)
        ),
    ]
    assert child == here
    # The child's blob is where and what the store reads.
    assert store.stat(address) == BlobInfo(len(body), md5(body))
    with store.open(address) as f:
        assert f.read() == body
    assert not list((store.root / ".tmp").iterdir())  # no scratch left behind


def test_parts_land_in_their_upload_and_complete(store: LocalBlobStore) -> None:
    writer = WriterProcess(store.root)
    address = blobs.new_address(REPO)
    upload_id = store.create_multipart(address)
    parts = [os.urandom(1000), os.urandom(777)]

    async def scenario() -> list[BlobInfo]:
        return list(
            await asyncio.gather(
                *(
                    writer.store(Grant(PART, address, 0, upload_id=upload_id, part_number=n), data)
                    for n, data in enumerate(parts, 1)
                )
            )
        )

    try:
        infos = asyncio.run(scenario())
    finally:
        writer.close()
    assert infos == [BlobInfo(len(p), md5(p)) for p in parts]
    from application.ports import CompletedPart

    done = store.complete_multipart(
        address, upload_id, [CompletedPart(n, i.etag) for n, i in enumerate(infos, 1)]
    )
    assert done.size == sum(map(len, parts))
    with store.open(address) as f:
        assert f.read() == b"".join(parts)


def test_a_stalled_child_never_stalls_the_loop(store: LocalBlobStore) -> None:
    """The loop only awaits the child's answer: while the child is stopped (a disk that hangs
    in an fsync), other work on the loop goes on, and the write completes when it resumes."""
    writer = WriterProcess(store.root)
    address = blobs.new_address(REPO)

    async def scenario() -> tuple[int, bool, BlobInfo]:
        await writer.store(upload(blobs.new_address(REPO)), b"start the child")
        assert writer.proc is not None
        os.kill(writer.proc.pid, signal.SIGSTOP)
        try:
            write = asyncio.ensure_future(writer.store(upload(address), b"stalled"))
            ticks = 0
            for _ in range(30):
                await asyncio.sleep(0.01)
                ticks += 1
            waiting = not write.done()
        finally:
            os.kill(writer.proc.pid, signal.SIGCONT)
        return ticks, waiting, await asyncio.wait_for(write, 10)

    try:
        ticks, waiting, info = asyncio.run(scenario())
    finally:
        writer.close()
    assert ticks == 30 and waiting
    assert info == BlobInfo(7, md5(b"stalled")) == store.stat(address)


def test_a_dead_child_fails_its_writes_as_unavailable_and_is_started_again(
    store: LocalBlobStore,
) -> None:
    writer = WriterProcess(store.root, retry_after=0.2)

    async def scenario() -> tuple[int, str, int]:
        await writer.store(upload(blobs.new_address(REPO)), b"first")
        assert writer.proc is not None
        first = writer.proc.pid
        os.kill(first, signal.SIGKILL)
        writer.proc.wait(5)
        with pytest.raises(Unavailable):
            await writer.store(upload(blobs.new_address(REPO)), b"to a dead child")
        with pytest.raises(Unavailable):  # not started again at once
            await writer.store(upload(blobs.new_address(REPO)), b"too soon")
        await asyncio.sleep(0.25)
        address = blobs.new_address(REPO)
        info = await writer.store(upload(address), b"again")
        assert info == BlobInfo(5, md5(b"again"))
        return first, address, writer.proc.pid

    try:
        first, address, second = asyncio.run(scenario())
    finally:
        writer.close()
    assert second != first
    assert store.stat(address) == BlobInfo(5, md5(b"again"))


def test_a_closed_or_dropped_writer_ends_its_child(store: LocalBlobStore) -> None:
    writer = WriterProcess(store.root)
    asyncio.run(writer.store(upload(blobs.new_address(REPO)), b"x"))
    assert writer.proc is not None
    proc = writer.proc
    writer.close()
    assert proc.wait(10) == 0

    async def after_close() -> None:
        await writer.store(upload(blobs.new_address(REPO)), b"y")

    with pytest.raises(Unavailable):
        asyncio.run(after_close())

    dropped = WriterProcess(store.root)
    asyncio.run(dropped.store(upload(blobs.new_address(REPO)), b"z"))
    assert dropped.proc is not None
    proc = dropped.proc
    del dropped
    gc.collect()
    assert proc.wait(10) == 0  # its socket closed with it: the child saw the end


def test_conflict_and_not_found_are_the_domain_errors(store: LocalBlobStore) -> None:
    """What the hot path's error rendering dispatches on: the classes themselves."""
    writer = WriterProcess(store.root)
    address = blobs.new_address(REPO)

    async def scenario() -> tuple[Exception, Exception]:
        await writer.store(upload(address), b"one")
        errors = []
        for call in (
            writer.store(upload(address), b"two"),
            writer.store(Grant(PART, address, 0, upload_id="e" * 32, part_number=1), b"p"),
        ):
            try:
                await call
            except Exception as e:
                errors.append(e)
        return errors[0], errors[1]

    try:
        conflict, missing = asyncio.run(scenario())
    finally:
        writer.close()
    assert type(conflict) is Conflict and conflict.code == "CONFLICT"
    assert type(missing) is NotFound and missing.code == "NOT_FOUND"


def test_a_request_half_sent_when_its_loop_closed_is_finished_by_the_next_loop(
    store: LocalBlobStore,
) -> None:
    """Tests (and only tests) run one event loop per request. A body larger than the socket's
    buffer, sent while the child is stopped, is still partly held when its loop closes; the
    next loop to use the writer sends the rest first, so the child reads whole frames and
    the next write is answered (it hung before: nothing was left to send the rest)."""
    writer = WriterProcess(store.root)
    first, second = blobs.new_address(REPO), blobs.new_address(REPO)
    big = os.urandom(1 << 20)

    async def start_the_child() -> None:
        await writer.store(upload(blobs.new_address(REPO)), b"start")

    async def half_sent() -> None:
        assert writer.proc is not None
        os.kill(writer.proc.pid, signal.SIGSTOP)
        pending = asyncio.ensure_future(writer.store(upload(first), big))
        await asyncio.sleep(0.1)
        assert not pending.done()
        assert writer._out, "the socket took the whole body: the test needs a larger one"
        # asyncio.run now cancels the pending write and closes this loop.

    async def next_write() -> BlobInfo:
        return await asyncio.wait_for(writer.store(upload(second), b"after"), 10)

    try:
        asyncio.run(start_the_child())
        asyncio.run(half_sent())
        assert writer.proc is not None
        os.kill(writer.proc.pid, signal.SIGCONT)
        info = asyncio.run(next_write())
    finally:
        writer.close()
    assert info == BlobInfo(5, md5(b"after")) == store.stat(second)
    # The child finishes the writes it holds (the first may still be on one of its threads
    # when the second is answered), then exits.
    assert writer.proc is not None
    assert writer.proc.wait(timeout=10) == 0
    assert store.stat(first) == BlobInfo(len(big), md5(big))  # written, its answer dropped


def test_the_child_ends_cleanly_when_the_parent_leaves_an_answer_unread(
    store: LocalBlobStore,
) -> None:
    """A Unix socket closed with data still unread resets: the child's next read then fails
    with ECONNRESET instead of seeing the end of the stream. It is the parent going away all
    the same: the child finishes the writes it took and exits 0 (it died with a traceback and
    status 1 before, whenever the server stopped with an answer not yet read)."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.localfs.writer_process", str(store.root)],
        stdin=child.fileno(),
        stderr=subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    child.close()
    address = blobs.new_address(REPO)
    try:
        parent.sendall(_request(1, upload(address), b"left unread"))
        deadline = time.monotonic() + 10
        # The answer follows the write: wait until it is there, and leave it unread.
        while not select.select([parent], [], [], 0.05)[0]:
            assert time.monotonic() < deadline, "no answer"
    finally:
        parent.close()
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err.decode()
    assert store.stat(address) == BlobInfo(11, md5(b"left unread"))
