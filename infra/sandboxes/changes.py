"""`OverlayChangeCollector`: what a run changed, read from its overlayfs upper layer.

The upper layer holds only what the run touched, so the walk is O(changes), not O(tree):
- a regular file is a put, unless its bytes equal the lower file's (size first, then
  content): a file copied up by `chmod`/`touch` or rewritten with the same bytes is no change;
- a whiteout (a character device 0/0) deletes the lower path — every object under it when
  the lower path is a folder;
- an opaque directory (`trusted.overlay.opaque` = `y`: the run removed a folder and made one
  of the same name) deletes every lower object under it that the upper layer does not hold;
- a folder replaced by a file, or a file by a folder, deletes what the lower side had there.

The overlay is mounted without `metacopy` and `redirect_dir` (the kernel defaults here, and
what the Docker adapter's `local` overlay volume uses): a copy-up always carries the data, and
renaming a lower folder fails with EXDEV so tools copy and delete instead. A file that still
carries either xattr is refused (`UnsupportedOverlay`) rather than misread.

Policy for what an object store cannot hold: symbolic links, FIFOs, sockets and device
nodes created by the run are not committed; each is skipped with a log line (the run's
regular files still commit). Folders are implicit: an empty new folder commits nothing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import structlog

from application.sandboxes.ports import Change

log = structlog.get_logger("tilde.sandboxes")

OPAQUE = "trusted.overlay.opaque"
REFUSED_XATTRS = ("trusted.overlay.metacopy", "trusted.overlay.redirect")
CHUNK = 1 << 20


class UnsupportedOverlay(Exception):
    """The upper layer uses an overlay feature the collector does not read (metacopy,
    redirect_dir): committing from it could lose or invent data."""


def same_bytes(a: str, b: str, size: int) -> bool:
    """Whether two files of `size` bytes hold the same bytes (read in 1 MiB chunks)."""
    with open(a, "rb") as fa, open(b, "rb") as fb:
        left = size
        while left > 0:
            ca, cb = fa.read(CHUNK), fb.read(CHUNK)
            if ca != cb or not ca:
                return False
            left -= len(ca)
        return fa.read(1) == fb.read(1) == b""


def _xattr(path: str, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


class OverlayChangeCollector:
    """The `ChangeCollector` port over an overlayfs upper directory."""

    def changes(self, upper: Path, lower: Path) -> Iterator[Change]:
        self.skipped: list[str] = []
        yield from self._walk(os.fspath(upper), os.fspath(lower), "", hidden=False)

    def _walk(self, upper: str, lower: str, rel: str, *, hidden: bool) -> Iterator[Change]:
        """`hidden`: inside an opaque folder, whose lower objects the opaque walk deletes."""
        with os.scandir(f"{upper}/{rel}" if rel else upper) as scan:
            found = sorted(scan, key=lambda e: e.name)
        for entry in found:
            path = rel + entry.name
            st = entry.stat(follow_symlinks=False)
            below = _lstat(f"{lower}/{path}")
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:  # a whiteout
                if not hidden and below is not None:
                    yield from self._lower_objects(lower, path, below)
            elif stat.S_ISDIR(st.st_mode):
                opaque = _xattr(entry.path, OPAQUE) == b"y"
                if below is not None and not stat.S_ISDIR(below.st_mode):
                    yield Change(path, "delete")  # a file replaced by a folder
                elif below is not None and opaque and not hidden:
                    yield from self._opaque(upper, lower, path)
                self._refuse_redirect(entry.path)
                yield from self._walk(upper, lower, path + "/", hidden=hidden or opaque)
            elif stat.S_ISREG(st.st_mode):
                for name in REFUSED_XATTRS:
                    if _xattr(entry.path, name) is not None:
                        raise UnsupportedOverlay(f"{path} carries {name}: mount without it")
                if below is not None and stat.S_ISDIR(below.st_mode):
                    if not hidden:  # a folder replaced by a file
                        yield from self._lower_objects(lower, path, below)
                elif (
                    below is not None
                    and stat.S_ISREG(below.st_mode)
                    and below.st_size == st.st_size
                    and same_bytes(entry.path, f"{lower}/{path}", st.st_size)
                ):
                    continue  # copied up, same bytes: no change
                yield Change(path, "put", Path(entry.path))
            else:
                self.skipped.append(path)
                log.warning(
                    "sandbox change not committed: only regular files become objects",
                    path=path,
                    kind=stat.filemode(st.st_mode)[0],
                )

    def _refuse_redirect(self, path: str) -> None:
        if _xattr(path, "trusted.overlay.redirect") is not None:
            raise UnsupportedOverlay(f"{path} is a redirected folder: mount without redirect_dir")

    def _lower_objects(self, lower: str, path: str, below: os.stat_result) -> Iterator[Change]:
        """Deletes of the lower object at `path`, or of every object under that folder."""
        if not stat.S_ISDIR(below.st_mode):
            yield Change(path, "delete")
            return
        for dirpath, dirs, files in os.walk(f"{lower}/{path}"):
            dirs.sort()
            base = path + dirpath[len(lower) + 1 + len(path) :]
            for name in sorted(files):
                yield Change(f"{base}/{name}", "delete")

    def _opaque(self, upper: str, lower: str, path: str) -> Iterator[Change]:
        """Deletes of the lower objects under an opaque folder the upper layer lacks."""
        for dirpath, dirs, files in os.walk(f"{lower}/{path}"):
            dirs.sort()
            base = path + dirpath[len(lower) + 1 + len(path) :]
            for name in sorted(files):
                if _lstat(f"{upper}/{base}/{name}") is None:
                    yield Change(f"{base}/{name}", "delete")
