"""Where a sandbox tree's hard links point: a blob's own file in the local blob store, or a
copy downloaded once into a local cache (S3, or a local store on another filesystem).

A tree entry's `blob_key` is `<address>/<etag>` (`blob_key`): for the local store that is
the blob file's path relative to the store's root, so resolving it costs no system call; for
S3 the address is the object's key. Either way the file a tree links to is never written
again: the local store never rewrites a blob, and the cache renames a complete download into
place (a crash leaves only scratch files, removed on start).
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path
from typing import Protocol

import structlog

from application.ports import BlobStore
from infra import blobs
from infra.localfs.files import CHUNK, fsync_dir, remove

log = structlog.get_logger("tilde.sandboxes")
_ETAG = re.compile(r"[0-9a-f]{32}(-[0-9]{1,5})?")


def blob_key(address: str, etag: str) -> str:
    """The key a tree entry carries: the blob's address and its ETag (the file's name)."""
    return f"{address}/{etag}"


def address_of(key: str) -> str:
    return key.rpartition("/")[0]


class BlobFiles(Protocol):
    """Local files holding blobs' bytes, on the filesystem of the trees that link to them."""

    def path(self, key: str, size: int) -> Path: ...


def in_parts(key: str) -> bool:
    """Whether the key's blob was completed from several parts (S3's `<md5>-<n>` ETag): the
    local store may keep it as a directory of its parts, which no hard link can point to."""
    return "-" in key.rpartition("/")[2]


class LocalBlobFiles:
    """The local blob store's own files (hard links to them copy no byte). A blob the store
    keeps as its parts (a multipart upload's) is joined once into `cache` instead."""

    def __init__(self, store_root: Path, cache: BlobCache | None = None) -> None:
        self.root = Path(store_root)  # links are made relative to it (`tree_build.link_tree`)
        self.cache = cache

    def relative(self, key: str) -> str:
        """The blob file's path below the store's root (checked: it cannot climb out)."""
        address, _, etag = key.rpartition("/")
        if not blobs.is_address(address) or not _ETAG.fullmatch(etag):
            raise ValueError(f"not a blob key: {key!r}")
        return key

    def path(self, key: str, size: int) -> Path:
        own = self.root / self.relative(key)
        if in_parts(key) and own.is_dir():
            if self.cache is None:
                raise ValueError(f"blob {key!r} is kept as parts and there is no cache")
            return self.cache.path(key, size)
        return own

    def prune(self, budget_bytes: int) -> int:
        """Remove unused joined copies (see `BlobCache.prune`)."""
        return 0 if self.cache is None else self.cache.prune(budget_bytes)


class BlobCache:
    """Blobs downloaded once from any `BlobStore` into `root` and kept while a tree links to
    them (a cached file with a link count of 1 is unused and may be pruned)."""

    def __init__(self, root: Path, store: BlobStore) -> None:
        self.root = Path(root)
        self.blobs = store
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        for leftover in self._tmp.iterdir():  # downloads a crash interrupted
            remove(leftover)

    def _file(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.root / digest[:2] / digest

    def path(self, key: str, size: int) -> Path:
        target = self._file(key)
        try:
            if target.stat().st_size == size:
                return target
        except FileNotFoundError:
            pass
        target.parent.mkdir(exist_ok=True)
        scratch = self._tmp / uuid.uuid4().hex
        try:
            with self.blobs.open(address_of(key)) as src, open(scratch, "xb") as out:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
                got = out.tell()
            if got != size:
                raise OSError(f"blob {address_of(key)} has {got} bytes, the catalog says {size}")
            os.chmod(scratch, 0o444)
            os.replace(scratch, target)  # a concurrent download of the same blob is identical
            fsync_dir(target.parent)
        finally:
            remove(scratch)
        return target

    def prune(self, budget_bytes: int) -> int:
        """Remove unused cached blobs (no tree links to them), oldest first, until the cache
        holds at most `budget_bytes`; how many bytes were freed."""
        files = []
        total = 0
        for shard in self.root.iterdir():
            if shard.name.startswith("."):
                continue
            for entry in os.scandir(shard):
                st = entry.stat(follow_symlinks=False)
                total += st.st_size
                if st.st_nlink == 1:
                    files.append((st.st_atime, st.st_size, Path(entry.path)))
        freed = 0
        for _, size, path in sorted(files):
            if total - freed <= budget_bytes:
                break
            path.unlink(missing_ok=True)
            freed += size
        if freed:
            log.info("sandbox blob cache pruned", freed_bytes=freed)
        return freed


def blob_files(store: BlobStore, cache_root: Path) -> BlobFiles:
    """The local store's files when they share a filesystem with the trees, else a cache."""
    store_root = getattr(store, "root", None)
    cache_root.mkdir(parents=True, exist_ok=True)
    if isinstance(store_root, Path) and store_root.exists():
        if store_root.stat().st_dev == cache_root.stat().st_dev:
            return LocalBlobFiles(store_root, BlobCache(cache_root, store))
        log.warning(
            "the local blob store is on another filesystem than the sandbox trees: "
            "blobs are copied once into the sandbox blob cache",
            blob_root=str(store_root),
            cache=str(cache_root),
        )
    return BlobCache(cache_root, store)
