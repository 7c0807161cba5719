"""`LocalBlobStore`: blobs as files under one directory, moved through HMAC-signed API URLs.

Layout under `root`:
    <repository id>/<uuid hex>/<etag>   one directory per blob holding one file named by its ETag
    <repository id>/<uuid hex>/<etag>/<00001…>
                                        … or, for a blob completed from several parts, one
                                        directory named by its ETag holding the parts in order
    .uploads/<upload id>/address        a multipart upload: its target address …
    .uploads/<upload id>/<n>.<md5>      … and its parts, named by number and MD5
    .tmp/                               scratch space for bodies still arriving

A blob appears by renaming a fully written, fsynced scratch directory onto its address: one
atomic step, so a crash or a dropped connection never leaves a partial blob, and the ETag
travels with the bytes (stat is a one-entry directory read). Renaming a directory onto an
existing, non-empty one fails, so a second PUT to the same URL cannot clobber a stored blob:
the same bytes again answer the same ETag (a harmless retry), different bytes answer 409.

Completing a multipart upload moves its parts (each fsynced when it arrived) into the blob's
directory and copies no byte: its time does not grow with the object's size. Reads, ranges
included, run across the parts as if they were one file (`open_parts`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

from application.ports import BlobInfo, CompletedPart
from domain.catalog import media_types
from domain.shared.errors import Conflict, Invalid, NotFound
from domain.shared.ids import random_hex
from infra import blobs
from infra.localfs.files import (
    BlobWriter,
    fsync_dir,
    open_parts,
    open_slice,
    remove,
    write_durably,
)
from infra.localfs.signing import DOWNLOAD, PART, UPLOAD, BlobUrlSigner, Grant

_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class LocalBlobStore:
    """The BlobStore port on a local filesystem; `BlobsController` serves its URLs."""

    def __init__(self, root: Path, base_url: str, secret: str) -> None:
        self.root = Path(root)
        self._base = base_url.rstrip("/") + "/_blob"
        self._signer = BlobUrlSigner(secret)
        self._uploads = self.root / ".uploads"
        self._tmp = self.root / ".tmp"
        for d in (self.root, self._uploads, self._tmp):
            d.mkdir(parents=True, exist_ok=True)

    # -- URLs -------------------------------------------------------------------------------

    def new_address(self, repository_id: str) -> str:
        return blobs.new_address(repository_id)

    def _url(self, kind: str, grant: Grant) -> str:
        return f"{self._base}/{kind}/{self._signer.sign(grant)}"

    def upload_url(self, address: str, *, expires_in: int) -> str:
        grant = Grant(UPLOAD, blobs.check_address(address), _expiry(expires_in))
        return self._url("u", grant)

    def part_url(self, address: str, upload_id: str, part_number: int, *, expires_in: int) -> str:
        blobs.check_address(address)
        grant = Grant(
            PART,
            address,
            _expiry(expires_in),
            upload_id=_check_upload_id(upload_id),
            part_number=blobs.check_part_number(part_number),
        )
        return self._url("p", grant)

    def download_url(self, address: str, *, expires_in: int, content_type: str, etag: str) -> str:
        grant = Grant(
            DOWNLOAD,
            blobs.check_address(address),
            _expiry(expires_in),
            content_type=media_types.servable(content_type),
            etag=blobs.bare_etag(etag),
        )
        return self._url("d", grant)

    def verify(self, operation: str, token: str) -> Grant:
        """The grant of a genuine, unexpired URL token (Forbidden otherwise)."""
        grant = self._signer.verify(operation, token)
        blobs.check_address(grant.address)
        return grant

    # -- receiving bodies (called by the HTTP controller) ------------------------------------

    def receive(self, grant: Grant) -> BlobWriter:
        """A writer for the body of an upload or part PUT; nothing shows until it commits."""
        scratch = self._tmp / random_hex()
        if grant.operation == UPLOAD:
            scratch.mkdir()
            return BlobWriter(
                scratch,
                scratch / "data",
                lambda data, md5, size: self._publish(grant.address, data, md5, size),
            )
        area = self._upload_area(grant.address, grant.upload_id)
        name = f"{grant.part_number}."
        return BlobWriter(
            scratch, scratch, lambda data, md5, size: self._keep_part(area, name + md5, data, size)
        )

    def store(self, grant: Grant, body: bytes) -> BlobInfo:
        """A whole body already in memory (a small upload or part): written under its name,
        fsynced and published in about a dozen system calls, with the same layout and
        guarantees as `receive` (whose streaming writer pays for a running hash, a scratch
        name and a cleanup check). The caller runs it on a thread."""
        md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
        scratch = self._tmp / random_hex()
        if grant.operation != UPLOAD:
            area = self._upload_area(grant.address, grant.upload_id)
            try:
                write_durably(scratch, body)
                return self._keep_part(area, f"{grant.part_number}.{md5}", scratch, len(body))
            except BaseException:
                scratch.unlink(missing_ok=True)
                raise
        # Knowing the ETag first, the file is created under it: no rename inside the scratch
        # directory, whose mtime (creating the file) is already when the blob was completed.
        os.mkdir(scratch)
        placed = False
        try:
            write_durably(scratch / md5, body)
            fsync_dir(scratch)
            info, placed = self._place(scratch, grant.address, BlobInfo(len(body), md5))
            return info
        finally:
            if not placed:
                remove(scratch)

    def _keep_part(self, area: Path, name: str, data: Path, size: int) -> BlobInfo:
        # A part is named by its MD5, so complete() proves each ETag by the name alone and a
        # re-sent part with other bytes never overwrites the one a client may still list.
        try:
            os.replace(data, area / name)
        except FileNotFoundError as e:
            raise NotFound("the multipart upload was completed or aborted") from e
        return BlobInfo(size, name.partition(".")[2])

    def _publish(self, address: str, data: Path, etag: str, size: int) -> BlobInfo:
        """Move a complete, fsynced file onto its address in one atomic rename."""
        staged = data.parent
        os.rename(data, staged / etag)
        fsync_dir(staged)
        os.utime(staged)  # list_addresses reports when the blob was completed
        return self._place(staged, address, BlobInfo(size, etag))[0]

    def _place(self, staged: Path, address: str, info: BlobInfo) -> tuple[BlobInfo, bool]:
        """Rename the durable directory `staged` (one file named by its ETag) onto `address`;
        (the stored blob's info, whether `staged` moved). The same bytes already there are a
        harmless retry; other bytes are a conflict."""
        final = self.root / address
        try:
            try:
                os.rename(staged, final)
            except FileNotFoundError:  # the repository's first blob: its directory too
                final.parent.mkdir(exist_ok=True)
                fsync_dir(self.root)
                os.rename(staged, final)
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            existing = self.stat(address)
            if existing == info:
                return existing, False
            raise Conflict("a different blob is already stored at this address") from e
        fsync_dir(final.parent)
        return info, True

    # -- reading ----------------------------------------------------------------------------

    def _file(self, address: str) -> tuple[Path, str] | None:
        try:
            with os.scandir(self.root / blobs.check_address(address)) as entries:
                for entry in entries:
                    return Path(entry.path), entry.name
        except (FileNotFoundError, NotADirectoryError):
            pass
        return None

    @staticmethod
    def _size(path: Path) -> tuple[int, list[tuple[Path, int]] | None]:
        """The blob's size, and its parts in order (path, size) when it is kept as parts
        (None: one file)."""
        found = os.stat(path)
        if not stat.S_ISDIR(found.st_mode):
            return found.st_size, None
        with os.scandir(path) as entries:
            named = sorted((e.name, Path(e.path), e.stat().st_size) for e in entries)
        parts = [(p, size) for _, p, size in named]
        return sum(size for _, size in parts), parts

    def stat(self, address: str) -> BlobInfo | None:
        found = self._file(address)
        if found is None:
            return None
        try:
            return BlobInfo(self._size(found[0])[0], found[1])
        except FileNotFoundError:
            return None

    def open(self, address: str, start: int = 0, end: int | None = None) -> BinaryIO:
        found = self._file(address)
        if found is None:
            raise NotFound("no blob is stored at this address")
        size, parts = self._size(found[0])
        last = size - 1 if end is None else min(end, size - 1)
        # Same rule as S3: a range must start inside the blob, except reading all of it.
        whole = start == 0 and end is None
        if start < 0 or (end is not None and end < start) or (start >= size and not whole):
            raise Invalid(f"bytes {start}-{'' if end is None else end} are outside the blob")
        length = max(0, last - start + 1)
        if parts is not None:
            return cast(BinaryIO, open_parts(parts, start, length))
        return cast(BinaryIO, open_slice(found[0], start, length))

    def list_addresses(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        for repo in _sorted_dirs(self.root):
            head = repo.name + "/"
            if repo.name.startswith(".") or not (
                head.startswith(prefix) or prefix.startswith(head)
            ):
                continue
            for blob in _sorted_dirs(repo):
                address = head + blob.name
                if address.startswith(prefix) and blobs.is_address(address):
                    yield address, datetime.fromtimestamp(blob.stat().st_mtime, UTC)

    def delete(self, address: str) -> None:
        # Renaming first makes the blob vanish at once, even if removing its file is slow.
        gone = self._tmp / random_hex()
        try:
            os.rename(self.root / blobs.check_address(address), gone)
        except FileNotFoundError:
            return
        remove(gone)

    # -- multipart --------------------------------------------------------------------------

    def create_multipart(self, address: str) -> str:
        blobs.check_address(address)
        upload_id = random_hex()
        area = self._uploads / upload_id
        area.mkdir()
        (area / "address").write_text(address)
        return upload_id

    def _upload_area(self, address: str, upload_id: str) -> Path:
        area = self._uploads / _check_upload_id(upload_id)
        try:
            owner = (area / "address").read_text()
        except FileNotFoundError:
            owner = None
        if owner != address:
            raise NotFound("no such multipart upload (completed, aborted or never started)")
        return area

    def complete_multipart(
        self, address: str, upload_id: str, parts: list[CompletedPart]
    ) -> BlobInfo:
        ordered = blobs.ordered_parts(parts)
        area = self._upload_area(blobs.check_address(address), upload_id)
        sources = [area / f"{n}.{md5}" for n, md5 in ordered]
        for (n, md5), source in zip(ordered, sources, strict=True):
            if not source.is_file():
                raise Invalid(f"part {n} with ETag {md5} was not uploaded to this upload")
        etag = blobs.multipart_etag([md5 for _, md5 in ordered])
        staged = self._tmp / random_hex()
        staged.mkdir()
        placed = False
        try:
            # The parts, each fsynced when it arrived, are moved, not copied: a lone part
            # becomes the blob's file, several become its directory of parts. They leave the
            # upload's area, so an interrupted completion can never be retried onto a part
            # that has changed; the directories' entries are fsynced before the blob appears.
            try:
                if len(sources) == 1:
                    os.rename(sources[0], staged / etag)
                else:
                    whole = staged / etag
                    whole.mkdir()
                    for number, source in enumerate(sources, 1):
                        os.rename(source, whole / f"{number:05d}")
                    fsync_dir(whole)
            except FileNotFoundError as e:
                raise NotFound("the multipart upload was aborted meanwhile") from e
            fsync_dir(staged)
            size = self._size(staged / etag)[0]
            os.utime(staged)  # list_addresses reports when the blob was completed
            info, placed = self._place(staged, address, BlobInfo(size, etag))
        finally:
            if not placed:
                remove(staged)
        self._drop_area(area)
        return info

    def abort_multipart(self, address: str, upload_id: str) -> None:
        try:
            area = self._upload_area(blobs.check_address(address), upload_id)
        except NotFound:
            return  # idempotent, like deleting
        self._drop_area(area)

    def _drop_area(self, area: Path) -> None:
        gone = self._tmp / random_hex()
        try:
            os.rename(area, gone)
        except FileNotFoundError:
            return
        remove(gone)

    def abort_stale_multiparts(self, older_than: datetime) -> int:
        cutoff = older_than.timestamp()
        aborted = 0
        for area in _sorted_dirs(self._uploads):
            try:
                started = (Path(area.path) / "address").stat().st_mtime
            except FileNotFoundError:
                started = area.stat().st_mtime
            if started < cutoff:
                self._drop_area(Path(area.path))
                aborted += 1
        # Scratch left behind by a crash mid-upload is as stale as an abandoned multipart.
        for entry in os.scandir(self._tmp):
            if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                remove(Path(entry.path))
        return aborted


def _expiry(expires_in: int) -> int:
    return int(time.time()) + int(expires_in)


def _check_upload_id(upload_id: str) -> str:
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise NotFound("no such multipart upload")
    return upload_id


def _sorted_dirs(path: str | os.PathLike[str]) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            found = [e for e in entries if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    return sorted(found, key=lambda e: e.name)
