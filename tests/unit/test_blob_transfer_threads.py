"""The blob routes' worker threads: a download's body (`_chunks`) comes in 4 MiB reads, and an
abandoned download closes its file only after the read in flight has finished; an upload
(`_pump`) reaches the file byte for byte, in batches copied into aligned buffers whatever the
sizes of the pieces that arrive, and one cancelled mid-body returns only once the batch its
threads hash and write is done, so the file is never discarded under them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import mmap
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from application.ports import BlobInfo
from infra.localfs.files import BlobWriter
from interfaces.http.controllers import blobs
from interfaces.http.controllers.blobs import DOWNLOAD_CHUNK, PUMP_BATCH, _chunks, _pump


class Reader(io.BytesIO):
    def __init__(self, data: bytes, gate: threading.Event | None = None) -> None:
        super().__init__(data)
        self.gate = gate
        self.events: list[str] = []

    def read(self, size: int | None = -1) -> bytes:
        self.events.append(f"read {size}")
        if self.gate is not None and len(self.events) > 1:
            self.gate.wait(5)  # the second read stalls until the test lets it go
            time.sleep(0.05)
        data = super().read(size)
        self.events.append("read done")
        return data

    def close(self) -> None:
        self.events.append("close")
        super().close()


def test_every_byte_in_large_reads_then_the_file_is_closed() -> None:
    data = bytes(range(256)) * (DOWNLOAD_CHUNK // 128 + 7)  # 2 reads and a bit
    reader = Reader(data)

    async def drain() -> bytes:
        return b"".join([chunk async for chunk in _chunks(reader)])

    assert asyncio.run(drain()) == data
    assert reader.events.count("read done") == 4  # 3 with bytes, 1 empty
    assert all(e in ("read done", "close", f"read {DOWNLOAD_CHUNK}") for e in reader.events)
    assert reader.events[-1] == "close"


def test_an_abandoned_download_closes_the_file_after_the_read_in_flight() -> None:
    gate = threading.Event()
    reader = Reader(b"x" * (3 * DOWNLOAD_CHUNK), gate)

    async def abandon() -> None:
        body = _chunks(reader)
        assert len(await body.__anext__()) == DOWNLOAD_CHUNK
        pending = asyncio.ensure_future(body.__anext__())  # the second read is in flight
        await asyncio.sleep(0.05)
        pending.cancel()  # the client went away
        asyncio.get_running_loop().call_later(0.05, gate.set)
        with contextlib.suppress(asyncio.CancelledError):
            await pending
        await body.aclose()

    asyncio.run(abandon())
    assert reader.events[-2:] == ["read done", "close"]  # closed only once the read ended


class Writer:
    """Records what the pump's threads do; the second batch's write stalls on `gate`."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.events: list[str] = []
        self.batches = 0

    def hash_all(self, chunks: list[bytes]) -> None:
        self.events.append("hashed")

    def store_aligned(self, batch: memoryview) -> None:
        self.batches += 1
        if self.batches == 2:
            self.gate.wait(5)
            time.sleep(0.05)
        self.events.append(f"stored {self.batches}")


class Request:
    async def stream(self) -> Any:
        for _ in range(3 * PUMP_BATCH // 65536):  # three batches' worth, at once …
            yield b"y" * 65536
        await asyncio.sleep(60)  # … then the client stalls
        yield b""


def test_a_cancelled_upload_waits_for_the_batch_its_threads_are_writing() -> None:
    gate = threading.Event()
    writer = Writer(gate)

    async def cancel_mid_body() -> None:
        pump = asyncio.ensure_future(_pump(Request(), writer))  # type: ignore[arg-type]
        while writer.batches < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # the third batch is in: the pump waits for the second
        pump.cancel()
        asyncio.get_running_loop().call_later(0.05, gate.set)
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        writer.events.append("pump returned")

    asyncio.run(cancel_mid_body())
    assert writer.events[-2:] == ["stored 2", "pump returned"]


class Pieces:
    """A request body arriving in pieces of the given sizes."""

    def __init__(self, body: bytes, sizes: list[int]) -> None:
        self.body, self.sizes = body, sizes

    async def stream(self) -> Any:
        at = 0
        for size in self.sizes:
            yield self.body[at : at + size]
            at += size
            await asyncio.sleep(0)


@pytest.mark.parametrize("direct", [True, False], ids=["direct I/O", "page cache"])
@pytest.mark.parametrize(
    "shape",
    ["uvicorn-like", "odd", "whole batches", "one big piece", "empty"],
)
def test_every_byte_reaches_the_file_in_order(tmp_path: Path, direct: bool, shape: str) -> None:
    rng = random.Random(shape)
    length = {"whole batches": 2 * PUMP_BATCH, "empty": 0}.get(shape, 2 * PUMP_BATCH + 12345)
    body = os.urandom(length)
    if shape == "uvicorn-like":
        sizes = [262144] * (length // 262144 + 1)
    elif shape == "odd":  # pieces straddling batch and block boundaries, some empty
        sizes = []
        while sum(sizes) < length:
            sizes.append(rng.choice([0, 1, 4095, 4097, 65537, 1 << 20, 3 << 20]))
    elif shape == "one big piece":
        sizes = [length]
    else:
        sizes = [PUMP_BATCH] * (length // PUMP_BATCH)
    (tmp_path / "scratch").mkdir()
    finished: list[tuple[bytes, str, int]] = []

    def finish(data: Path, md5: str, size: int) -> BlobInfo:
        finished.append((data.read_bytes(), md5, size))
        return BlobInfo(size, md5)

    writer = BlobWriter(tmp_path / "scratch", tmp_path / "scratch" / "data", finish, direct=direct)
    asyncio.run(_pump(Pieces(body, sizes), writer))  # type: ignore[arg-type]
    info = writer.commit()

    md5 = hashlib.md5(body).hexdigest()
    assert finished == [(body, md5, length)]
    assert info == BlobInfo(length, md5)
    assert len(blobs._SPARE_BUFFERS) >= 2  # its two buffers were kept for the next upload


def test_an_aligned_batch_after_bytes_held_back_keeps_the_order(tmp_path: Path) -> None:
    """`store_aligned` writes a batch as it is only when nothing waits in the writer's own
    buffer; otherwise it is copied behind what waits there."""
    (tmp_path / "s").mkdir()
    kept: list[bytes] = []

    def finish(data: Path, md5: str, size: int) -> BlobInfo:
        kept.append(data.read_bytes())
        return BlobInfo(size, md5)

    def pumped(data: bytes) -> None:
        """`data` handed over as the pump does: from a page-aligned buffer, hashed and stored."""
        aligned = mmap.mmap(-1, len(data))
        aligned[:] = data
        writer.hash_all([memoryview(aligned)])
        writer.store_aligned(memoryview(aligned))

    writer = BlobWriter(tmp_path / "s", tmp_path / "s" / "data", finish)
    head, batch, tail = os.urandom(1000), os.urandom(1 << 20), os.urandom(8192)
    writer.write(head)  # held back in the writer's buffer (less than a block)
    pumped(batch)
    pumped(tail)
    info = writer.commit()
    assert kept == [head + batch + tail]
    assert info == BlobInfo(len(kept[0]), hashlib.md5(kept[0]).hexdigest())
