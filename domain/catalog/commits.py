"""Content-derived commit ids, commit inputs (message, metadata) and what a commit made."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.shared.errors import Invalid
from domain.shared.values import Actor

MAX_MESSAGE = 65536
# One staged change as a commit applies it: path, op, address, etag (and more, ignored).
Change = Mapping[str, Any]


@dataclass(frozen=True)
class NewCommit:
    """A commit the repository just added: its id and its sequence number."""

    commit_id: str
    seq: int


@dataclass(frozen=True)
class Committer:
    """Who a commit is attributed to (an approved commit: the agent that asked for it)."""

    actor: Actor
    name: str


def changes_digest(changes: Iterable[tuple[str, str, str, str]]) -> str:
    """SHA-256 over the sorted (path, op, address, etag) tuples a commit applies."""
    digest = hashlib.sha256()
    for path, op, address, etag in sorted(changes):
        digest.update(f"{path}\0{op}\0{address}\0{etag}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def commit_id(
    *,
    repository_id: str,
    seq: int,
    parents: list[str],
    message: str,
    metadata: dict[str, str],
    committer_type: str,
    committer_id: str,
    created_at: str,
    digest: str,
) -> str:
    """The commit's id: a hash of everything that makes it what it is."""
    body = json.dumps(
        {
            "repository": repository_id,
            "seq": seq,
            "parents": parents,
            "message": message,
            "metadata": metadata,
            "committer": [committer_type, committer_id],
            "at": created_at,
            "changes": digest,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def check_message(message: object) -> str:
    if not isinstance(message, str) or not message.strip():
        raise Invalid("message is required")
    if len(message) > MAX_MESSAGE:
        raise Invalid("message must be at most 64 KiB")
    return message


def check_metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise Invalid("metadata must be an object of string values")
    if len(value) > 100:
        raise Invalid("metadata allows at most 100 keys")
    return dict(value)
