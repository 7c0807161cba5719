"""Ports: the Protocols adapters in `infra/` implement for the application layer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from domain.catalog.tree import Tree

if TYPE_CHECKING:
    from application.sandboxes.ports import TreeEntry


class PasswordHasher(Protocol):
    """A slow, salted password hash (argon2id in production)."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...


class RateLimiter(Protocol):
    """Counts hits per key in a sliding window."""

    def hit(self, key: str, *, limit: int, window_seconds: int) -> int:
        """Record one hit; 0 when allowed, else seconds until the next hit would be allowed."""
        ...

    def peek(self, key: str, *, limit: int, window_seconds: int) -> int:
        """What `hit` would answer, without recording a hit."""
        ...

    def reset(self, key: str) -> None: ...


class TokenSigner(Protocol):
    """Signs short payloads with the server secret (reset links, verification links)."""

    def sign(self, purpose: str, payload: str, *, ttl_seconds: int) -> str: ...

    def verify(self, purpose: str, token: str) -> str | None:
        """The payload of a valid, unexpired token for `purpose`, else None."""
        ...


@dataclass(frozen=True)
class EmailMessage:
    """An outgoing email; `message_id` makes delivery idempotent."""

    message_id: str
    to: str
    subject: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class Mailer(Protocol):
    """Delivers email (SMTP in production, `.eml` files when embedded)."""

    def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class BlobInfo:
    """What a blob store knows about stored bytes: size and S3-style ETag (unquoted hex,
    or `<md5 of part md5s>-<parts>` for multipart uploads)."""

    size: int
    etag: str


@dataclass(frozen=True)
class CompletedPart:
    part_number: int
    etag: str  # as the client reported it; quotes are tolerated and stripped


class BlobStore(Protocol):
    """Immutable bytes at unique physical addresses, moved by self-authenticating URLs.

    Addresses are opaque strings chosen by `new_address`; every upload gets a fresh one, so
    nothing is ever overwritten and a copy is metadata-only. URLs are absolute and carry
    their own credential (signature): clients PUT/GET them without an Authorization header.
    """

    def new_address(self, repository_id: str) -> str: ...

    def upload_url(self, address: str, *, expires_in: int) -> str:
        """Where to PUT the whole body (Content-Length or chunked); answers a quoted ETag."""
        ...

    def download_url(self, address: str, *, expires_in: int, content_type: str, etag: str) -> str:
        """Where to GET the bytes (honours Range; sends ETag, Content-Type, Content-Length)."""
        ...

    def stat(self, address: str) -> BlobInfo | None:
        """Size and ETag of a finished upload, or None if nothing is stored there."""
        ...

    def create_multipart(self, address: str) -> str:
        """Start a multipart upload; its upload id."""
        ...

    def part_url(
        self, address: str, upload_id: str, part_number: int, *, expires_in: int
    ) -> str: ...

    def complete_multipart(
        self, address: str, upload_id: str, parts: list[CompletedPart]
    ) -> BlobInfo:
        """Assemble the parts (ascending part numbers); Invalid if a part or ETag is wrong."""
        ...

    def abort_multipart(self, address: str, upload_id: str) -> None: ...

    def delete(self, address: str) -> None:
        """Remove the bytes (idempotent)."""
        ...

    def list_addresses(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        """Every stored address under `prefix` with its last-modified time (for GC)."""
        ...

    def abort_stale_multiparts(self, older_than: datetime) -> int:
        """Abort multipart uploads started before `older_than`; how many were aborted."""
        ...

    def open(self, address: str, start: int = 0, end: int | None = None) -> BinaryIO:
        """Read bytes [start, end] inclusive (for server-side consumers like sandboxes)."""
        ...


class CatalogReads(Protocol):
    """What catalog commands read from the (inline, never-lagging) catalog tables."""

    def session_entry(self, session_id: str, path: str) -> dict[str, Any] | None:
        """The entry a session sees at `path` (staged change over its base), or None."""
        ...

    def staged_changes(self, session_id: str) -> list[dict[str, Any]]: ...

    def conflicting_paths(
        self, repository_id: str, session_id: str, base_seq: int, head_seq: int
    ) -> list[str]: ...

    def commit_seq(self, repository_id: str, commit_id: str) -> int | None: ...

    def commit_row_by_seq(self, repository_id: str, seq: int) -> dict[str, Any] | None: ...

    def repositories(self) -> list[dict[str, Any]]:
        """Every repository the catalog knows (id, organization, deleted/purged flags)."""
        ...

    def changes_of(self, repository_id: str, seq: int) -> list[dict[str, Any]]:
        """The (path, op) rows a commit changed."""
        ...

    def entry_before(self, repository_id: str, path: str, seq: int) -> dict[str, Any] | None:
        """The entry version that commit `seq` replaced or removed (visible at seq - 1)."""
        ...

    def paths_changed_after(
        self, repository_id: str, paths: list[str], seq: int, head_seq: int
    ) -> list[str]: ...

    def tree_entries(self, repository_id: str, commit_id: str, prefix: str) -> Iterator[TreeEntry]:
        """A commit's objects under the folder `prefix`, paths relative to it, in path order
        (streamed in keyset batches; blob keys are `<address>/<etag>`). NotFound for an
        unknown commit; an empty commit id is the empty tree (a repository with no commit)."""
        ...

    def stale_boundary(self, repository_id: str, before: str) -> int:
        """The highest commit seq created before the ISO time `before` (0 if none)."""
        ...

    def referenced(self, addresses: list[str]) -> set[str]: ...

    def open_sessions_before(self, opened_before: str) -> list[dict[str, Any]]: ...

    # -- queries (application.catalog.queries) --------------------------------------------
    def session_row(self, session_id: str) -> dict[str, Any] | None:
        """The session's row (id, repository_id, base_seq, status, …), or None."""
        ...

    def commit_row(self, repository_id: str, commit_id: str) -> dict[str, Any] | None: ...

    def commit_of_session(self, repository_id: str, session_id: str) -> dict[str, Any] | None: ...

    def head_seq(self, repository_id: str) -> int:
        """The latest commit's seq (0 before the first), never lagging."""
        ...

    def entry(self, tree: Tree, path: str) -> dict[str, Any] | None:
        """The entry `tree` holds at `path`, or None."""
        ...

    def live_head_entry(
        self, repository_id: str, organization_id: str, name: str, path: str
    ) -> dict[str, Any] | None:
        """The head's entry at `path` if repository `repository_id` is live under that
        organization and name; None otherwise (no such entry, or not that live repository)."""
        ...

    def listing(
        self, tree: Tree, *, prefix: str, delimiter: str, after: str, amount: int
    ) -> list[dict[str, Any]]:
        """Up to `amount + 1` ListingEntries of `tree` under `prefix`, after `after`."""
        ...

    def log(
        self, repository_id: str, *, below_seq: int, prefix: str, path: str, amount: int
    ) -> list[dict[str, Any]]:
        """Commit rows newest first with seq < below_seq (only those touching prefix/path)."""
        ...

    def diff_commits(
        self,
        repository_id: str,
        left: int,
        right: int,
        *,
        prefix: str,
        after: str,
        amount: int,
        delimiter: str,
    ) -> list[dict[str, Any]]:
        """Up to `amount + 1` DiffEntries between two commits (both > 0)."""
        ...

    def diff_staged(
        self, tree: Tree, *, prefix: str, after: str, amount: int
    ) -> list[dict[str, Any]]:
        """Up to `amount + 1` DiffEntries of a session's staged changes against its base."""
        ...
