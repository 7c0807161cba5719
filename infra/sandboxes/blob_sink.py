"""Putting a run's changed files into the blob store from the server side, streamed.

The local store gets each file as its own blob directory (`<address>/<etag>`, the layout
`LocalBlobStore` reads), written into its scratch area and renamed into place; instead of an
fsync per file, `flush()` syncs the filesystem once before anything references the blobs (a
1,000-file commit costs one sync, not 1,000). S3 gets a streamed upload per file (multipart
above boto3's threshold), several at once.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from application.ports import BlobInfo, BlobStore
from infra.localfs.files import CHUNK, fsync_dir, remove

_libc = ctypes.CDLL(None, use_errno=True)


class BlobSink:
    """Stores files as new blobs of a repository; `put_many` returns (address, info) each."""

    def __init__(self, store: BlobStore, *, parallel: int = 8) -> None:
        self.store = store
        self.parallel = parallel
        root = getattr(store, "root", None)
        self._local_root = root if isinstance(root, Path) else None

    def put_many(self, repository_id: str, files: list[Path]) -> list[tuple[str, BlobInfo]]:
        if self._local_root is not None:
            stored = [self._put_local(repository_id, f) for f in files]
            self._flush_local(repository_id)
            return stored
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            return list(pool.map(lambda f: self._put_remote(repository_id, f), files))

    # -- local ------------------------------------------------------------------------------
    def _put_local(self, repository_id: str, source: Path) -> tuple[str, BlobInfo]:
        assert self._local_root is not None
        address = self.store.new_address(repository_id)
        scratch = self._local_root / ".tmp" / uuid.uuid4().hex
        scratch.mkdir()
        try:
            md5 = hashlib.md5(usedforsecurity=False)
            size = 0
            with open(source, "rb") as src, open(scratch / "data", "xb") as out:
                while chunk := src.read(CHUNK):
                    md5.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            etag = md5.hexdigest()
            os.rename(scratch / "data", scratch / etag)
            final = self._local_root / address
            final.parent.mkdir(exist_ok=True)
            os.rename(scratch, final)  # a fresh address: nothing is there to clobber
        finally:
            remove(scratch)
        return address, BlobInfo(size, etag)

    def _flush_local(self, repository_id: str) -> None:
        """Durability of every blob written above in one filesystem sync."""
        assert self._local_root is not None
        fd = os.open(self._local_root, os.O_RDONLY)
        try:
            if _libc.syncfs(fd) != 0:
                os.sync()
        finally:
            os.close(fd)
        fsync_dir(self._local_root / repository_id)

    # -- S3 ---------------------------------------------------------------------------------
    def _put_remote(self, repository_id: str, source: Path) -> tuple[str, BlobInfo]:
        address = self.store.new_address(repository_id)
        s3: Any = getattr(self.store, "_s3", None)
        if s3 is None:
            raise TypeError(f"cannot write blobs into {type(self.store).__name__}")
        key = self.store._key(address)  # type: ignore[attr-defined]
        s3.upload_file(os.fspath(source), self.store.bucket, key)  # type: ignore[attr-defined]
        info = self.store.stat(address)
        if info is None:
            raise OSError(f"the upload of {source.name} to {address} vanished")
        return address, info
