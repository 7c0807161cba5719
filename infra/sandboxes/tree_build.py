"""Materializing one commit's tree as hard links: names that cannot escape, no byte copied.

Object names come from the catalog, where a name may be anything an S3 key may be: a name
whose `/`-segments are empty, `.` or `..`, hold a NUL, or are longer than the filesystem
allows cannot be a file under the tree, and a name that is both an object and a folder
(`a` and `a/b`) cannot be both. Those entries are skipped and counted (the run sees the rest;
a log line names the first few), never created outside the tree.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue

from application.sandboxes.ports import TreeEntry
from infra.sandboxes.blob_cache import BlobFiles, in_parts

NAME_MAX = 255
PATH_MAX = 4095
DIR_MODE = 0o755


@dataclass
class BuildReport:
    """What a build linked and what it had to leave out."""

    objects: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)
    skipped_count: int = 0

    def skip(self, path: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < 10:
            self.skipped.append(path)


def safe_parts(path: str) -> list[str] | None:
    """The path's segments when every one can be a file name under the tree, else None."""
    if not path or len(path.encode("utf-8", "surrogateescape")) > PATH_MAX or "\0" in path:
        return None
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", "..") or len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            return None
    return parts


def link_tree(target: Path, entries: Iterator[TreeEntry], files: BlobFiles) -> BuildReport:
    """Hard-link every entry's blob file under `target` (an empty directory).

    The catalog is read on a second thread while this one links (both mostly wait on the
    kernel), and links are made relative to open directory descriptors (`linkat`), so the
    kernel does not walk the long absolute paths again for each of 100k objects."""
    report = BuildReport()
    made: set[str] = {""}
    broken: set[str] = set()  # directories that could not be made (a file has that name)
    root = os.fspath(target)
    dir_fds: dict[str, int] = {"": os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)}
    relative = getattr(files, "relative", None)
    # Links from the local blob store are made relative to its root's descriptor as well.
    src_fd: int | None = (
        os.open(files.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)  # type: ignore[attr-defined]
        if relative
        else None
    )
    try:
        for entry in _prefetched(entries):
            parts = safe_parts(entry.path)
            if parts is None:
                report.skip(entry.path)
                continue
            parent = "/".join(parts[:-1])
            if parent not in made and not _make_dirs(root, parts[:-1], made, broken):
                report.skip(entry.path)
                continue
            fd = dir_fds.get(parent)
            if fd is None:
                if len(dir_fds) > 256:
                    _close_all(dir_fds)
                fd = dir_fds[parent] = os.open(
                    f"{root}/{parent}", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
                )
            try:
                if src_fd is not None and relative is not None and not in_parts(entry.blob_key):
                    os.link(relative(entry.blob_key), parts[-1], src_dir_fd=src_fd, dst_dir_fd=fd)
                else:
                    os.link(files.path(entry.blob_key, entry.size), parts[-1], dst_dir_fd=fd)
            except (FileExistsError, IsADirectoryError):
                report.skip(entry.path)  # a folder of that name came first (`a/b` before `a`)
                continue
            report.objects += 1
            report.bytes += entry.size
    finally:
        _close_all(dir_fds)
        if src_fd is not None:
            os.close(src_fd)
    return report


def _close_all(fds: dict[str, int]) -> None:
    for fd in fds.values():
        os.close(fd)
    fds.clear()


def _prefetched(entries: Iterator[TreeEntry], batch: int = 2000) -> Iterator[TreeEntry]:
    """`entries`, read ahead by a thread (at most 8 batches in memory)."""
    queue: Queue[list[TreeEntry] | BaseException | None] = Queue(maxsize=8)
    stop = threading.Event()

    def read() -> None:
        try:
            chunk: list[TreeEntry] = []
            for entry in entries:
                chunk.append(entry)
                if len(chunk) >= batch:
                    queue.put(chunk)
                    chunk = []
                    if stop.is_set():
                        return
            queue.put(chunk)
            queue.put(None)
        except BaseException as e:  # handed to the consumer, which raises it
            queue.put(e)

    reader = threading.Thread(target=read, name="tree-entries", daemon=True)
    reader.start()
    try:
        while (item := queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield from item
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting on a full queue
            try:
                queue.get_nowait()
            except Empty:
                reader.join(0.01)


def _make_dirs(root: str, parts: list[str], made: set[str], broken: set[str]) -> bool:
    for depth in range(1, len(parts) + 1):
        rel = "/".join(parts[:depth])
        if rel in made:
            continue
        if rel in broken:
            return False
        try:
            os.mkdir(f"{root}/{rel}", DIR_MODE)
        except FileExistsError:
            if not os.path.isdir(f"{root}/{rel}"):
                broken.add(rel)  # an object named like this folder was linked first
                return False
        except NotADirectoryError:
            broken.add(rel)
            return False
        made.add(rel)
    return True


def tree_size(target: Path) -> tuple[int, int]:
    """(objects, bytes) of a built tree (for a cache that lost its size record)."""
    objects = size = 0
    for dirpath, _, names in os.walk(target):
        for name in names:
            objects += 1
            size += os.lstat(os.path.join(dirpath, name)).st_size
    return objects, size
