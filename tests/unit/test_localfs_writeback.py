"""Early writeback in the local blob store's file plumbing: a large body hands each 8 MiB to
the disk while it is still being written (the final fsync then waits less), in contiguous
ranges that cover every byte, and the bytes and MD5 stay exact."""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from application.ports import BlobInfo
from infra.localfs import files
from infra.localfs.files import WRITEBACK_STEP, BlobWriter

MiB = 1 << 20


@pytest.fixture
def handed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """The (fd, offset, length) of each writeback request, instead of the system call."""
    calls: list[tuple[int, int, int]] = []

    def record(fd: int, offset: int, length: int, flags: int) -> int:
        assert flags == files.SYNC_FILE_RANGE_WRITE
        calls.append((fd, offset, length))
        return 0

    monkeypatch.setattr(files, "_SYNC_FILE_RANGE", record)
    return calls


def covered(calls: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    return [(offset, offset + length) for _, offset, length in calls]


@pytest.mark.parametrize("threads", [1, 2], ids=["one thread", "hash and write apart"])
def test_a_large_body_is_handed_to_the_disk_as_it_arrives(
    tmp_path: Path, handed: list[tuple[int, int, int]], threads: int
) -> None:
    """As the pump hands batches over: one thread hashing and writing each, or (as the
    upload controller does) one hashing it while another writes it, batch after batch."""
    chunks = [os.urandom(MiB) for _ in range(20)] + [os.urandom(1234)]
    finished: list[tuple[bytes, str, int]] = []

    def finish(data: Path, md5: str, size: int) -> BlobInfo:
        finished.append((data.read_bytes(), md5, size))
        return BlobInfo(size, md5)

    (tmp_path / "scratch").mkdir()
    writer = BlobWriter(tmp_path / "scratch", tmp_path / "scratch" / "data", finish, direct=False)
    with ThreadPoolExecutor(2) as pool:
        for start in range(0, len(chunks), 3):  # batches of 3 MiB, as the pump hands them over
            batch = chunks[start : start + 3]
            if threads == 1:
                writer.write_all(batch)
            else:
                halves = [pool.submit(writer.hash_all, batch), pool.submit(writer.store_all, batch)]
                for half in halves:
                    half.result()
    info = writer.commit()

    body = b"".join(chunks)
    assert finished == [(body, hashlib.md5(body).hexdigest(), len(body))]
    assert info == BlobInfo(len(body), hashlib.md5(body).hexdigest())
    ranges = covered(handed)
    assert len(ranges) == 2 and all(end - start >= WRITEBACK_STEP for start, end in ranges)
    assert ranges[0][0] == 0 and ranges[0][1] == ranges[1][0]  # contiguous from the start
    assert ranges[-1][1] <= len(body)  # the tail is left to the fsync
    assert not (tmp_path / "scratch").exists()


def test_a_small_body_asks_for_no_writeback(
    tmp_path: Path, handed: list[tuple[int, int, int]]
) -> None:
    (tmp_path / "s").mkdir()
    writer = BlobWriter(
        tmp_path / "s", tmp_path / "s" / "data", lambda d, m, n: BlobInfo(n, m), direct=False
    )
    writer.write_all([b"x" * 1024])
    assert writer.commit() == BlobInfo(1024, hashlib.md5(b"x" * 1024).hexdigest())
    assert handed == []


def test_writeback_is_harmless_on_a_real_file(tmp_path: Path) -> None:
    """The real call (where the system has it) on a real file: no error, bytes unchanged."""
    path = tmp_path / "f"
    path.write_bytes(b"y" * (2 * MiB))
    with open(path, "r+b") as f:
        files.start_writeback(f.fileno(), 0, 2 * MiB)
        files.start_writeback(f.fileno(), 0, 0)
    assert path.read_bytes() == b"y" * (2 * MiB)


@pytest.mark.parametrize(
    "size",
    [0, 1, 4095, 4096, 4097, files.DIRECT_BUFFER, files.DIRECT_BUFFER + 1, 3 * MiB + 12345],
)
def test_direct_writes_store_every_byte_whatever_the_alignment(
    tmp_path: Path, handed: list[tuple[int, int, int]], size: int
) -> None:
    """Direct I/O writes whole buffers from an aligned one and the tail below a block
    through the page cache: any size, in chunks of any size, ends up exact."""
    body = os.urandom(size)
    finished: list[tuple[bytes, str, int]] = []

    def finish(data: Path, md5: str, n: int) -> BlobInfo:
        finished.append((data.read_bytes(), md5, n))
        return BlobInfo(n, md5)

    (tmp_path / "s").mkdir()
    writer = BlobWriter(tmp_path / "s", tmp_path / "s" / "data", finish)
    assert writer.direct  # /tmp here is a disk filesystem that allows O_DIRECT
    cuts = sorted({0, size, *(min(size, c) for c in itertools.accumulate([65536, 7, 999_999]))})
    chunks = [body[a:b] for a, b in itertools.pairwise(cuts)]
    writer.write_all(chunks[:2])
    for chunk in chunks[2:]:
        writer.write(chunk)
    assert writer.commit() == BlobInfo(size, hashlib.md5(body).hexdigest())
    assert finished == [(body, hashlib.md5(body).hexdigest(), size)]
    assert handed == []  # nothing dirty in the page cache to hand over
    assert not (tmp_path / "s").exists()


def test_where_the_filesystem_refuses_direct_io_the_page_cache_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def refusing(path: object, flags: int, *args: object) -> int:
        if flags & os.O_DIRECT:
            raise OSError(22, "Invalid argument")  # EINVAL, as tmpfs answers
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing)
    (tmp_path / "s").mkdir()
    writer = BlobWriter(tmp_path / "s", tmp_path / "s" / "data", lambda d, m, n: BlobInfo(n, m))
    assert not writer.direct
    body = os.urandom(2 * MiB + 5)
    writer.write(body)
    assert writer.commit() == BlobInfo(len(body), hashlib.md5(body).hexdigest())


def test_a_discarded_direct_writer_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    writer = BlobWriter(tmp_path / "s", tmp_path / "s" / "data", lambda d, m, n: BlobInfo(n, m))
    writer.write(os.urandom(MiB + 3))
    writer.discard()
    writer.discard()  # twice is harmless
    assert not (tmp_path / "s").exists()


def test_where_the_filesystem_takes_o_direct_but_refuses_the_writes_the_page_cache_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some filesystems accept O_DIRECT at open and answer EINVAL to the writes: the writer
    goes on through the page cache from the first refused write, losing no byte."""
    real_write = os.write
    refused: list[int] = []

    def refusing(fd: int, data: object) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(fd)
            raise OSError(22, "Invalid argument")
        return real_write(fd, data)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "write", refusing)
    (tmp_path / "s").mkdir()
    kept: list[bytes] = []

    def finish(data: Path, md5: str, n: int) -> BlobInfo:
        kept.append(data.read_bytes())
        return BlobInfo(n, md5)

    writer = BlobWriter(tmp_path / "s", tmp_path / "s" / "data", finish)
    assert writer.direct
    body = os.urandom(3 * files.DIRECT_BUFFER + 4096 + 17)
    writer.write_all([body[: MiB // 2], body[MiB // 2 :]])
    assert writer.commit() == BlobInfo(len(body), hashlib.md5(body).hexdigest())
    assert kept == [body]
    assert len(refused) == 1  # the descriptor stayed buffered after the first refusal


def test_a_direct_writer_holds_one_descriptor(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    before = len(os.listdir("/proc/self/fd"))
    writer = BlobWriter(tmp_path / "s", tmp_path / "s" / "data", lambda d, m, n: BlobInfo(n, m))
    assert writer.direct
    assert len(os.listdir("/proc/self/fd")) == before + 1
    body = os.urandom(MiB + 1)
    writer.write(body)
    assert writer.commit() == BlobInfo(len(body), hashlib.md5(body).hexdigest())
    assert len(os.listdir("/proc/self/fd")) == before
