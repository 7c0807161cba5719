"""S3 adapters: the blob store on a bucket."""

from infra.s3.blob_store import S3BlobStore

__all__ = ["S3BlobStore"]
