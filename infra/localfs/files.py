"""File plumbing for the local blob store: streamed writers, range readers, durable renames."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import io
import mmap
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from application.ports import BlobInfo

CHUNK = 1 << 20
# Large files are handed to the disk in steps of this size while they are still being written,
# so the fsync that makes them durable finds little left to write.
WRITEBACK_STEP = 8 << 20
SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):  # not Linux (or no libc symbol): fsync does it all
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


_SYNC_FILE_RANGE = _sync_file_range()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing `[offset, offset + length)` of a file to disk now,
    without waiting (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`; ctypes releases the GIL).
    Not a durability step — the caller still fsyncs before it answers — only less left for
    that fsync to do. A no-op where the call does not exist or fails."""
    if _SYNC_FILE_RANGE is not None and length > 0:
        _SYNC_FILE_RANGE(fd, offset, length, SYNC_FILE_RANGE_WRITE)


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


def write_durably(path: Path, body: bytes) -> None:
    """Create `path` (it must not exist) holding `body`, fsynced: a handful of system calls
    (each a point where a thread gives up the GIL and must win it back from the event loop)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(path: Path) -> None:
    """Delete a file or a directory tree if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# Direct I/O: a streamed body is written from one reused, page-aligned buffer straight to the
# disk (`O_DIRECT`), in whole buffers; only the tail below one block goes through the page
# cache. On the VMs here a fresh page-cache page costs several times a reused one, so the
# kernel's copy into the cache, not the disk, had set the pace: 64 MiB written and fsynced
# took 115 to 270 ms buffered and 34 to 43 ms direct.
DIRECT_BUFFER = 1 << 20
_BLOCK = 4096  # the alignment O_DIRECT asks of offsets and lengths (≥ any logical block)


def _direct_fd(path: Path) -> int | None:
    """`path` (already created) opened for direct writes, or None where the filesystem
    refuses `O_DIRECT` (tmpfs, some network filesystems)."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(path, os.O_WRONLY | os.O_CLOEXEC | flag)
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return None
        raise


def _write_fully(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _write_direct(fd: int, data: memoryview) -> None:
    """`_write_fully` on a direct descriptor. A filesystem may take `O_DIRECT` at open and
    refuse the writes themselves (EINVAL: a larger logical block, a FUSE filesystem): the
    descriptor then goes on through the page cache, the bytes as they were."""
    while data:
        try:
            n = os.write(fd, data)
        except OSError as e:
            if e.errno != errno.EINVAL or not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
                raise
            _buffered(fd)
            n = os.write(fd, data)
        data = data[n:]


def _buffered(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)


class BlobWriter:
    """A body arriving into a scratch file with a running MD5; nothing is visible until `commit`.

    With `direct` (and a filesystem that allows it) the bytes go to the disk from one
    aligned buffer (`O_DIRECT`, see `DIRECT_BUFFER`); otherwise through the page cache, with
    writeback started every `WRITEBACK_STEP`. Either way `commit` fsyncs before anything is
    published."""

    def __init__(
        self,
        scratch: Path,
        data: Path,
        finish: Callable[[Path, str, int], BlobInfo],
        *,
        direct: bool = True,
    ) -> None:
        self._scratch = scratch  # removed afterwards whatever happens (a file or a directory)
        self._file = open(data, "xb")  # noqa: SIM115 -- closed by commit() or discard()
        self._data = data
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._finish = finish
        self.size = 0
        self._handed = 0  # bytes whose writeback has started
        self._fd: int | None = None  # the direct descriptor, when direct I/O is on
        self._buffer: mmap.mmap | None = None
        self._filled = 0
        if direct:
            try:
                self._fd = _direct_fd(data)
                if self._fd is not None:
                    self._buffer = mmap.mmap(-1, DIRECT_BUFFER)  # page-aligned
                    self._file.close()  # it made the file; the direct descriptor writes it
            except BaseException:
                self.discard()
                raise

    @property
    def direct(self) -> bool:
        return self._fd is not None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._md5.update(data)
        self._store(data)

    def write_all(self, chunks: list[bytes]) -> None:
        """Hash and write a batch (`hash_all` then `store_all`)."""
        self.hash_all(chunks)
        self.store_all(chunks)

    def hash_all(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
        """The running MD5 over a batch. It releases the GIL for each chunk, so it can run
        on one thread while `store_all` writes the same batch on another; batches must come
        in order, each after both halves of the previous one."""
        for chunk in chunks:
            self._md5.update(chunk)

    def store_all(self, chunks: list[bytes]) -> None:
        """Write a batch (see `hash_all`)."""
        for chunk in chunks:
            self._store(chunk)
        self._write_back()

    def store_aligned(self, batch: memoryview) -> None:
        """Write a batch that starts a page-aligned buffer (the upload pump's `mmap`), like
        `store_all`. With direct I/O, a batch of whole blocks while nothing waits in this
        writer's own buffer goes to the disk as it is, without the copy into that buffer
        (another batch, or the tail, is copied as before, so the order holds). A batch that
        is not aligned after all is refused by the kernel (EINVAL) and the descriptor goes
        on through the page cache (`_write_direct`): slower, never wrong."""
        if self._fd is not None and self._filled == 0 and len(batch) % _BLOCK == 0:
            self.size += len(batch)
            _write_direct(self._fd, batch)
        else:
            self._store(batch)
        self._write_back()

    def _write_back(self) -> None:
        if self._fd is None and self.size - self._handed >= WRITEBACK_STEP:
            self._file.flush()
            start_writeback(self._file.fileno(), self._handed, self.size - self._handed)
            self._handed = self.size

    def _store(self, data: bytes | bytearray | memoryview) -> None:
        self.size += len(data)
        if self._fd is None or self._buffer is None:
            self._file.write(data)
            return
        buffer, fd = self._buffer, self._fd
        with memoryview(data) as view:
            while view:
                n = min(len(view), DIRECT_BUFFER - self._filled)
                buffer[self._filled : self._filled + n] = view[:n]
                self._filled += n
                view = view[n:]
                if self._filled == DIRECT_BUFFER:
                    with memoryview(buffer) as whole:
                        _write_direct(fd, whole)
                    self._filled = 0

    def _flush_direct(self, fd: int, buffer: mmap.mmap) -> None:
        """The buffer's rest: whole blocks directly, the tail below a block through the
        page cache (O_DIRECT cleared: it needs whole blocks)."""
        aligned = self._filled - self._filled % _BLOCK
        with memoryview(buffer) as view:
            if aligned:
                _write_direct(fd, view[:aligned])
            if self._filled > aligned:
                _buffered(fd)
                _write_fully(fd, view[aligned : self._filled])
        self._filled = 0

    def commit(self) -> BlobInfo:
        """Flush to disk, then hand the complete file to the store's publishing step."""
        try:
            if self._fd is not None and self._buffer is not None:
                self._flush_direct(self._fd, self._buffer)
                os.fsync(self._fd)
            else:
                self._file.flush()
                os.fsync(self._file.fileno())
            self._file.close()
            return self._finish(self._data, self._md5.hexdigest(), self.size)
        finally:
            self.discard()

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._buffer is not None:
            self._buffer.close()
            self._buffer = None
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


class _Parts(io.RawIOBase):
    """The window [start, start + length) of several files read one after the other, as if
    they were one file (a blob kept as the parts it was uploaded in). Each file is opened
    when the reading reaches it."""

    def __init__(self, parts: list[tuple[Path, int]], start: int, length: int) -> None:
        self._parts = parts
        self._left = length
        self._index = 0
        self._skip = start  # bytes still to pass over from the current part's start
        self._raw: io.FileIO | None = None

    def readable(self) -> bool:
        return True

    def _current(self) -> io.FileIO | None:
        while self._raw is None:
            if self._index >= len(self._parts):
                return None
            path, size = self._parts[self._index]
            if self._skip >= size:  # the window starts after this part
                self._skip -= size
                self._index += 1
                continue
            raw = io.FileIO(path, "rb")
            try:
                raw.seek(self._skip)
            except OSError:
                raw.close()
                raise
            self._skip = 0
            self._raw = raw
        return self._raw

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._left > 0:
            raw = self._current()
            if raw is None:
                return 0
            with memoryview(buffer) as view:
                n = raw.readinto(view[: self._left]) or 0
            if n:
                self._left -= n
                return n
            raw.close()  # this part is read: on to the next
            self._raw = None
            self._index += 1
        return 0

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        super().close()


def open_parts(parts: list[tuple[Path, int]], start: int, length: int) -> io.BufferedReader:
    """`open_slice` over several files (path, size) in order, read as one."""
    return io.BufferedReader(_Parts(parts, start, length), buffer_size=256 * 1024)
