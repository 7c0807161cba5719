"""`HardLinkTreeStore`: the `TreeStore` port as cached, read-only hard-link trees.

Layout under `root` (`<data dir>/sandboxes/trees`):
    built/<key>/        a complete tree of one (repository, commit, prefix): hard links only
    views/<key>/        its idmapped, read-only mount (what the overlay gets as lowerdir)
    meta/<key>.json     objects, bytes and the (repository, commit, prefix) it holds
    locks/<key>.lock    flock: shared while a sandbox uses the tree, exclusive to evict it
    locks/<key>.build   flock: exclusive while one process builds the tree
    tmp/<key>.<uuid>/   a build in progress; renamed onto built/<key> when complete

A tree appears by one rename of a complete directory, so a crash never leaves a half tree in
`built/`; leftovers in `tmp/` are removed by the next builder of the key (which holds the
key's build lock, so no live builder owns them) and by `sweep()` at start. Two sandboxes of
the same commit, in one process or several, build it once: the second waits on the build
lock and finds it built. Eviction (least recently used first, when the trees' bytes exceed the
budget) only takes trees whose lock it can take exclusively, i.e. that no sandbox uses.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

from application.ports import BlobStore
from application.sandboxes.ports import TreeEntry
from infra.localfs.files import fsync_dir, remove
from infra.sandboxes import idmap
from infra.sandboxes.blob_cache import BlobFiles, blob_files
from infra.sandboxes.tree_build import link_tree, tree_size
from infra.settings import Settings

log = structlog.get_logger("tilde.sandboxes")


@dataclass
class _Held:
    fd: int
    refs: int


def tree_store(settings: Settings, blobs: BlobStore) -> HardLinkTreeStore:
    """The tree store of this installation, under `<data dir>/sandboxes`."""
    base = Path(settings.data_dir) / "sandboxes"
    uid, _, gid = settings.sandbox_user.partition(":")
    return HardLinkTreeStore(
        base / "trees",
        blob_files(blobs, base / "blobs"),
        uid=int(uid),
        gid=int(gid or uid),
        budget_bytes=settings.sandbox_tree_cache_bytes,
    )


def tree_key(repository_id: str, commit_id: str, prefix: str) -> str:
    return hashlib.sha256(f"{repository_id}\0{commit_id}\0{prefix}".encode()).hexdigest()[:40]


class HardLinkTreeStore:
    """Read-only trees of commits, shared by sandboxes, shown owned by the sandbox's uid."""

    def __init__(
        self,
        root: Path,
        files: BlobFiles,
        *,
        uid: int = 1000,
        gid: int = 1000,
        budget_bytes: int = 10 << 30,
        idmapped: bool = True,
    ) -> None:
        self.root = Path(root)
        self.files = files
        self.uid, self.gid = uid, gid
        self.budget_bytes = budget_bytes
        self._dirs = {n: self.root / n for n in ("built", "views", "meta", "locks", "tmp")}
        for d in self._dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        # Without a mapping to apply (the server runs as the sandbox's uid) a view is useless.
        self._idmapped = idmapped and (os.geteuid(), os.getegid()) != (uid, gid)
        self._userns: int | None = None
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._held: dict[str, _Held] = {}
        self.sweep()

    # -- the port ---------------------------------------------------------------------------
    def tree(
        self, repository_id: str, commit_id: str, prefix: str, entries: Iterator[TreeEntry]
    ) -> Path:
        key = tree_key(repository_id, commit_id, prefix)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            held = self._held.get(key)
            if held is None:
                fd = self._acquire(key, (repository_id, commit_id, prefix), entries)
                held = self._held[key] = _Held(fd, 0)
            held.refs += 1
        os.utime(self._lockfile(key))  # last use, for LRU
        return self._view(key)

    def release(self, repository_id: str, commit_id: str, prefix: str) -> None:
        key = tree_key(repository_id, commit_id, prefix)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            held = self._held.get(key)
            if held is None:
                return
            held.refs -= 1
            if held.refs > 0:
                return
            del self._held[key]
            os.close(held.fd)  # drops the shared lock: the tree may now be evicted
        self.evict()

    # -- building ---------------------------------------------------------------------------
    def _lockfile(self, key: str) -> Path:
        return self._dirs["locks"] / f"{key}.lock"

    def _acquire(self, key: str, origin: tuple[str, str, str], entries: Iterator[TreeEntry]) -> int:
        """A descriptor holding the key's shared lock over a complete, built tree."""
        fd = os.open(self._lockfile(key), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            while True:
                fcntl.flock(fd, fcntl.LOCK_SH)
                if (self._dirs["built"] / key).is_dir():
                    return fd
                # Never upgrade to exclusive while waiting: a finished builder keeps its
                # shared lock (its sandbox uses the tree), so waiters would wait forever.
                fcntl.flock(fd, fcntl.LOCK_UN)
                with self._build_lock(key, wait=True):
                    if not (self._dirs["built"] / key).is_dir():
                        self._build(key, origin, entries)
        except BaseException:
            os.close(fd)
            raise

    @contextmanager
    def _build_lock(self, key: str, *, wait: bool) -> Iterator[bool]:
        """The key's builder lock (yields False when taken elsewhere and `wait` is off)."""
        fd = os.open(self._dirs["locks"] / f"{key}.build", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def _build(self, key: str, origin: tuple[str, str, str], entries: Iterator[TreeEntry]) -> None:
        for leftover in self._dirs["tmp"].glob(f"{key}.*"):  # a crashed builder's
            remove(leftover)
        scratch = self._dirs["tmp"] / f"{key}.{uuid.uuid4().hex}"
        scratch.mkdir(0o755)
        started = time.perf_counter()
        try:
            report = link_tree(scratch, entries, self.files)
            meta = {
                "repository_id": origin[0],
                "commit_id": origin[1],
                "prefix": origin[2],
                "objects": report.objects,
                "bytes": report.bytes,
                "skipped": report.skipped_count,
            }
            (self._dirs["meta"] / f"{key}.json").write_text(json.dumps(meta))
            os.rename(scratch, self._dirs["built"] / key)
        finally:
            remove(scratch)
        fsync_dir(self._dirs["built"])
        if report.skipped_count:
            log.warning(
                "sandbox tree: objects whose names cannot be files were left out",
                count=report.skipped_count,
                examples=report.skipped,
                repository_id=origin[0],
                commit_id=origin[1],
            )
        log.info(
            "sandbox tree built",
            objects=report.objects,
            seconds=round(time.perf_counter() - started, 3),
            repository_id=origin[0],
            commit_id=origin[1],
            prefix=origin[2],
        )

    # -- the idmapped view ------------------------------------------------------------------
    def _view(self, key: str) -> Path:
        built = self._dirs["built"] / key
        if not self._idmapped:
            return built
        view = self._dirs["views"] / key
        mount_lock = os.open(
            self._dirs["locks"] / f"{key}.mount", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
        )
        try:
            fcntl.flock(mount_lock, fcntl.LOCK_EX)  # one mount per view, whoever asks first
            if not idmap.is_mounted(view):
                view.mkdir(exist_ok=True)
                idmap.mount_view(built, view, self._namespace())
        except idmap.IdmapUnavailable as e:
            # Not root, or a kernel without idmapped mounts: the plain tree still works for
            # sandboxes that run as the server's uid; others will not own their files.
            log.warning("sandbox trees: no idmapped view, using the plain tree", error=str(e))
            self._idmapped = False
            return built
        finally:
            os.close(mount_lock)
        return view

    def _namespace(self) -> int:
        with self._lock:
            if self._userns is None:
                self._userns = idmap.user_namespace(os.geteuid(), self.uid, os.getegid(), self.gid)
            return self._userns

    # -- cache upkeep -----------------------------------------------------------------------
    def evict(self) -> int:
        """Remove unused trees, least recently used first, while over budget; how many."""
        trees = []
        for lock in self._dirs["locks"].glob("*.lock"):
            key = lock.stem
            if not (self._dirs["built"] / key).is_dir():
                continue
            trees.append((lock.stat().st_mtime, key, self._size(key)))
        total = sum(size for _, _, size in trees)
        evicted = 0
        for _, key, size in sorted(trees):
            if total <= self.budget_bytes:
                break
            if key in self._held or not self._remove(key):
                continue
            total -= size
            evicted += 1
        prune = getattr(self.files, "prune", None)  # a cache, or the local store's joined copies
        if evicted and prune is not None:
            prune(self.budget_bytes)
        return evicted

    def _size(self, key: str) -> int:
        try:
            return int(json.loads((self._dirs["meta"] / f"{key}.json").read_text())["bytes"])
        except (OSError, ValueError, KeyError):
            return tree_size(self._dirs["built"] / key)[1]

    def _remove(self, key: str) -> bool:
        """Remove a tree no sandbox holds (its lock taken exclusively without waiting)."""
        fd = os.open(self._lockfile(key), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            view = self._dirs["views"] / key
            idmap.unmount(view)
            trash = self._dirs["tmp"] / f"{key}.{uuid.uuid4().hex}"
            try:
                os.rename(self._dirs["built"] / key, trash)
            except FileNotFoundError:
                return False
            (self._dirs["meta"] / f"{key}.json").unlink(missing_ok=True)
            remove(trash)
            view.rmdir() if view.is_dir() and not idmap.is_mounted(view) else None
            return True
        finally:
            os.close(fd)

    def sweep(self) -> None:
        """Remove the scratch of builds that crashed (no live builder holds their key)."""
        for scratch in self._dirs["tmp"].iterdir():
            with self._build_lock(scratch.name.partition(".")[0], wait=False) as mine:
                if mine:
                    remove(scratch)
        self.evict()

    def close(self) -> None:
        """Release this process's holds and its idmap namespace, and unmount the views no
        other process holds (the next `tree()` mounts them again)."""
        with self._lock:
            for held in self._held.values():
                os.close(held.fd)
            self._held.clear()
            if self._userns is not None:
                os.close(self._userns)
                self._userns = None
        for view in self._dirs["views"].iterdir():
            fd = os.open(self._lockfile(view.name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a sandbox of another process uses it
            else:
                idmap.unmount(view)
            finally:
                os.close(fd)
