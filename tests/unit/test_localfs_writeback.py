"""Early writeback in the local blob store's file plumbing: a large body hands each 8 MiB to
the disk while it is still being written (the final fsync then waits less), in contiguous
ranges that cover every byte, and the bytes and MD5 stay exact."""

from __future__ import annotations

import hashlib
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
    writer = BlobWriter(tmp_path / "scratch", tmp_path / "scratch" / "data", finish)
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
    writer = BlobWriter(tmp_path / "s", tmp_path / "s" / "data", lambda d, m, n: BlobInfo(n, m))
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
