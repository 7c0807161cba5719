"""Server-side writes into the blob store, streamed in bounded memory (imports' `BlobWriter`).

Local disk: the store's own upload path (scratch file, fsync, one atomic rename). S3: one
PUT for a body that fits in a part, else a native multipart upload of PART_SIZE parts read
one at a time, aborted if anything fails, so a crash never leaves a partial blob visible.
"""

from __future__ import annotations

import time
from typing import Any, BinaryIO

from application.imports.ports import BlobWriter
from application.ports import BlobInfo, BlobStore
from infra import blobs
from infra.localfs.blob_store import LocalBlobStore
from infra.localfs.signing import UPLOAD, Grant
from infra.s3.blob_store import S3BlobStore

CHUNK = 1 << 20
PART_SIZE = 8 << 20


def _read(body: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes (fewer only at the end of the body)."""
    parts: list[bytes] = []
    left = size
    while left > 0:
        chunk = body.read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


class LocalBlobWriter:
    """Writes through `LocalBlobStore`'s receiving path, 1 MiB at a time."""

    def __init__(self, store: LocalBlobStore) -> None:
        self.store = store

    def write(self, address: str, body: BinaryIO, size_hint: int) -> BlobInfo:
        writer = self.store.receive(Grant(UPLOAD, address, int(time.time()) + 3600))
        try:
            while chunk := body.read(CHUNK):
                writer.write(chunk)
        except BaseException:
            writer.discard()
            raise
        return writer.commit()


class S3BlobWriter:
    """Writes with the store's boto3 client: PUT, or multipart in PART_SIZE parts."""

    def __init__(self, store: S3BlobStore) -> None:
        self.store = store
        self.s3: Any = store._s3

    def write(self, address: str, body: BinaryIO, size_hint: int) -> BlobInfo:
        key = self.store.prefix + blobs.check_address(address)
        first = _read(body, PART_SIZE)
        if len(first) < PART_SIZE:
            put = self.s3.put_object(Bucket=self.store.bucket, Key=key, Body=first)
            return BlobInfo(len(first), blobs.bare_etag(put["ETag"]))
        upload = self.s3.create_multipart_upload(Bucket=self.store.bucket, Key=key)["UploadId"]
        try:
            parts: list[dict[str, Any]] = []
            size, data = 0, first
            while data:
                number = len(parts) + 1
                sent = self.s3.upload_part(
                    Bucket=self.store.bucket,
                    Key=key,
                    UploadId=upload,
                    PartNumber=number,
                    Body=data,
                )
                parts.append({"PartNumber": number, "ETag": sent["ETag"]})
                size += len(data)
                data = _read(body, PART_SIZE)
            done = self.s3.complete_multipart_upload(
                Bucket=self.store.bucket,
                Key=key,
                UploadId=upload,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            self.s3.abort_multipart_upload(Bucket=self.store.bucket, Key=key, UploadId=upload)
            raise
        return BlobInfo(size, blobs.bare_etag(done["ETag"]))


def blob_writer(store: BlobStore) -> BlobWriter:
    """The writer for the configured blob store."""
    if isinstance(store, LocalBlobStore):
        return LocalBlobWriter(store)
    if isinstance(store, S3BlobStore):
        return S3BlobWriter(store)
    raise TypeError(f"imports cannot write into a {type(store).__name__}")
