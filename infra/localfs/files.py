"""File plumbing for the local blob store: streamed writers, range readers, durable renames."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from application.ports import BlobInfo

CHUNK = 1 << 20


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(path: Path) -> None:
    """Delete a file or a directory tree if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def append(src: io.BufferedReader, dst: io.BufferedWriter | io.BufferedRandom) -> None:
    """Copy the rest of `src` to `dst` in the kernel where possible, else in 1 MiB chunks."""
    dst.flush()
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is not None:
        try:
            while copy_range(src.fileno(), dst.fileno(), 1 << 30):
                pass
            return
        except OSError:
            # Both offsets advanced by what was copied, so the fallback resumes correctly.
            pass
    shutil.copyfileobj(src, dst, CHUNK)


class BlobWriter:
    """A body arriving into a scratch file with a running MD5; nothing is visible until `commit`."""

    def __init__(
        self, scratch: Path, data: Path, finish: Callable[[Path, str, int], BlobInfo]
    ) -> None:
        self._scratch = scratch  # removed afterwards whatever happens (a file or a directory)
        self._file = open(data, "xb")  # noqa: SIM115 -- closed by commit() or discard()
        self._data = data
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._finish = finish
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._md5.update(data)
        self._file.write(data)
        self.size += len(data)

    def write_all(self, chunks: list[bytes]) -> None:
        # One thread hop per batch of socket reads; hashing releases the GIL for each chunk.
        for chunk in chunks:
            self.write(chunk)

    def commit(self) -> BlobInfo:
        """Flush to disk, then hand the complete file to the store's publishing step."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            return self._finish(self._data, self._md5.hexdigest(), self.size)
        finally:
            self.discard()

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        remove(self._scratch)


class _Slice(io.RawIOBase):
    """The window [start, start + length) of an open file, read as if it were the whole file."""

    def __init__(self, raw: io.FileIO, length: int) -> None:
        self._raw = raw
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        with memoryview(buffer) as view:
            n = self._raw.readinto(view[: self._left]) or 0
        self._left -= n
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_slice(path: Path, start: int, length: int) -> io.BufferedReader:
    raw = io.FileIO(path, "rb")
    try:
        raw.seek(start)
    except OSError:
        raw.close()
        raise
    return io.BufferedReader(_Slice(raw, length), buffer_size=256 * 1024)
