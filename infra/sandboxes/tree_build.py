"""Materializing one commit's tree as hard links: names that cannot escape, no byte copied.

Object names come from the catalog, where a name may be anything an S3 key may be: a name
whose `/`-segments are empty, `.` or `..`, hold a NUL, or are longer than the filesystem
allows cannot be a file under the tree, and a name that is both an object and a folder
(`a` and `a/b`) cannot be both. Those entries are skipped and counted (the run sees the rest;
a log line names the first few), never created outside the tree.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from application.sandboxes.ports import TreeEntry
from infra.sandboxes.blob_cache import BlobFiles

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
    """Hard-link every entry's blob file under `target` (an empty directory)."""
    report = BuildReport()
    made: set[str] = {""}
    broken: set[str] = set()  # directories that could not be made (a file has that name)
    root = os.fspath(target)
    for entry in entries:
        parts = safe_parts(entry.path)
        if parts is None:
            report.skip(entry.path)
            continue
        parent = "/".join(parts[:-1])
        if parent not in made and not _make_dirs(root, parts[:-1], made, broken):
            report.skip(entry.path)
            continue
        try:
            os.link(files.path(entry.blob_key, entry.size), f"{root}/{entry.path}")
        except (FileExistsError, IsADirectoryError):
            report.skip(entry.path)  # a folder of that name came first (`a/b` before `a`)
            continue
        report.objects += 1
        report.bytes += entry.size
    return report


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
