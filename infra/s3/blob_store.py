"""`S3BlobStore`: blobs as objects in one bucket, moved by presigned URLs (boto3)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from application.ports import BlobInfo, CompletedPart
from domain.catalog import media_types
from domain.shared.errors import Invalid, NotFound
from infra import blobs

_MISSING = {"404", "NoSuchKey", "NotFound"}
# What S3 says when the client's part list is wrong, told back in words an API user can act on.
_BAD_PARTS = {
    "InvalidPart": "a listed part was not uploaded, or its ETag does not match",
    "InvalidPartOrder": "parts must be listed in ascending part-number order",
    "EntityTooSmall": "every part but the last must be at least 5 MiB",
    "MalformedXML": "the part list is malformed",
}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3BlobStore:
    """The BlobStore port on an S3 (or S3-compatible) bucket, keys `<prefix><address>`."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
    ) -> None:
        if not bucket:
            raise ValueError("the S3 blob store needs a bucket (TILDE_S3_BUCKET)")
        self.bucket = bucket
        self.prefix = prefix
        self.region = region or "us-east-1"
        # Empty keys mean the AWS default credential chain (instance role, env, profile).
        self._s3: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=self.region,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 5, "mode": "standard"},
            ),
        )

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (embedded setups and tests start empty)."""
        try:
            self._s3.head_bucket(Bucket=self.bucket)
            return
        except ClientError as e:
            if _code(e) not in _MISSING | {"NoSuchBucket"}:
                raise
        params: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":  # S3 refuses an explicit us-east-1 constraint
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._s3.create_bucket(**params)
        except ClientError as e:
            if _code(e) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    def _key(self, address: str) -> str:
        return self.prefix + blobs.check_address(address)

    def _presign(self, method: str, params: dict[str, Any], expires_in: int) -> str:
        return str(
            self._s3.generate_presigned_url(
                method, Params={"Bucket": self.bucket, **params}, ExpiresIn=int(expires_in)
            )
        )

    def new_address(self, repository_id: str) -> str:
        return blobs.new_address(repository_id)

    def upload_url(self, address: str, *, expires_in: int) -> str:
        # No ContentType in the signature: the SDK sends application/octet-stream regardless.
        return self._presign("put_object", {"Key": self._key(address)}, expires_in)

    def download_url(self, address: str, *, expires_in: int, content_type: str, etag: str) -> str:
        served = media_types.servable(content_type)
        params = {
            "Key": self._key(address),
            "ResponseContentType": served,
            "ResponseCacheControl": f"private, max-age={int(expires_in)}",
        }
        if not media_types.is_safe_inline(served):
            # S3 cannot add nosniff or a CSP, so a download is the only way to keep a browser
            # from running an uploaded page (S3 serves it from the bucket's origin, though).
            params["ResponseContentDisposition"] = "attachment"
        return self._presign("get_object", params, expires_in)

    def stat(self, address: str) -> BlobInfo | None:
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=self._key(address))
        except ClientError as e:
            if _code(e) in _MISSING:
                return None
            raise
        return BlobInfo(int(head["ContentLength"]), blobs.bare_etag(head["ETag"]))

    def create_multipart(self, address: str) -> str:
        created = self._s3.create_multipart_upload(Bucket=self.bucket, Key=self._key(address))
        return str(created["UploadId"])

    def part_url(self, address: str, upload_id: str, part_number: int, *, expires_in: int) -> str:
        params = {
            "Key": self._key(address),
            "UploadId": upload_id,
            "PartNumber": blobs.check_part_number(part_number),
        }
        return self._presign("upload_part", params, expires_in)

    def complete_multipart(
        self, address: str, upload_id: str, parts: list[CompletedPart]
    ) -> BlobInfo:
        ordered = blobs.ordered_parts(parts)
        listing = [{"PartNumber": n, "ETag": f'"{md5}"'} for n, md5 in ordered]
        try:
            self._s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self._key(address),
                UploadId=upload_id,
                MultipartUpload={"Parts": listing},
            )
        except ClientError as e:
            code = _code(e)
            if code in _BAD_PARTS:
                raise Invalid(_BAD_PARTS[code], code="INVALID_PART") from e
            if code == "NoSuchUpload":
                raise NotFound("no such multipart upload (completed or aborted)") from e
            raise
        info = self.stat(address)
        if info is None:  # only if someone deleted the object between the two calls
            raise NotFound("the completed upload is no longer stored")
        return info

    def abort_multipart(self, address: str, upload_id: str) -> None:
        try:
            self._s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self._key(address), UploadId=upload_id
            )
        except ClientError as e:
            if _code(e) not in {"NoSuchUpload", *_MISSING}:
                raise

    def delete(self, address: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=self._key(address))

    def list_addresses(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                address = item["Key"][len(self.prefix) :]
                # Foreign keys under a shared prefix are not ours to report (or collect).
                if blobs.is_address(address):
                    yield address, item["LastModified"]

    def abort_stale_multiparts(self, older_than: datetime) -> int:
        pages = self._s3.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        stale = [
            (upload["Key"], upload["UploadId"])
            for page in pages
            for upload in page.get("Uploads", [])
            if upload["Initiated"] < older_than
        ]
        for key, upload_id in stale:
            try:
                self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except ClientError as e:
                if _code(e) != "NoSuchUpload":
                    raise
        return len(stale)

    def open(self, address: str, start: int = 0, end: int | None = None) -> BinaryIO:
        if start < 0 or (end is not None and end < start):
            raise Invalid(f"bytes {start}-{end} are not a range")
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(address)}
        if start or end is not None:
            params["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            got = self._s3.get_object(**params)
        except ClientError as e:
            if _code(e) in _MISSING:
                raise NotFound("no blob is stored at this address") from e
            if _code(e) == "InvalidRange":
                raise Invalid(f"bytes {start}-{end} are outside the blob") from e
            raise
        return cast(BinaryIO, got["Body"])
