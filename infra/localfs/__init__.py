"""Local-disk adapters: the embedded mode's blob store."""

from infra.localfs.blob_store import LocalBlobStore

__all__ = ["LocalBlobStore"]
