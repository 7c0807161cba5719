"""StagingShard: one of a session's staging streams (paths are spread over SHARDS shards,
so parallel uploads into one session rarely contend for the same stream)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.shared.errors import Invalid, NotFound
from domain.shared.ids import derived_id
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor

MAX_BATCH = 1000
PUT = "put"
DELETE = "delete"


def shard_of(path: str, shards: int) -> int:
    return (
        int.from_bytes(hashlib.sha256(path.encode("utf-8", "surrogatepass")).digest()[:4], "big")
        % shards
    )


def shard_id(session_id: str | UUID, index: int) -> UUID:
    return derived_id("staging-shard", session_id, index)


def staged_put(
    path: str,
    *,
    address: str,
    size: int,
    etag: str,
    content_type: str,
    metadata: dict[str, str],
    last_modified: str,
    source_metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One staged upload or copy (plain data, as the event carries it)."""
    return {
        "path": path,
        "op": PUT,
        "address": address,
        "size": size,
        "etag": etag,
        "content_type": content_type,
        "metadata": metadata,
        "last_modified": last_modified,
        "source_metadata": source_metadata,
    }


def staged_delete(path: str, last_modified: str) -> dict[str, Any]:
    return {
        "path": path,
        "op": DELETE,
        "address": "",
        "size": 0,
        "etag": "",
        "content_type": "",
        "metadata": {},
        "last_modified": last_modified,
        "source_metadata": None,
    }


class StagingShard(OrgAggregate):
    """Appends staged changes; a commit or rollback seals it (staging afterwards fails)."""

    class Started(OrgCreated):
        """The shard's first staging."""

        session_id: str
        repository_id: str
        index: int

        def apply(self, shard: StagingShard) -> None:
            start_state(shard, self)
            shard.session_id = self.session_id
            shard.repository_id = self.repository_id
            shard.index = self.index
            shard.sealed = False
            shard.count = 0

    class Staged(OrgEvent):
        """Up to MAX_BATCH puts/deletes; a later entry for a path replaces an earlier one."""

        session_id: str
        repository_id: str
        entries: list[dict[str, Any]]

        def apply(self, shard: StagingShard) -> None:
            shard.count += len(self.entries)

    class Sealed(OrgEvent):
        """The session was committed or rolled back."""

        reason: str

        def apply(self, shard: StagingShard) -> None:
            shard.sealed = True

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        session_id: str
        repository_id: str
        index: int
        sealed: bool
        count: int

    @classmethod
    def start(
        cls, *, session_id: str, organization_id: str, repository_id: str, index: int, actor: Actor
    ) -> StagingShard:
        shard: StagingShard = cls._start(
            cls.Started,
            id=shard_id(session_id, index),
            organization_id=organization_id,
            actor=actor,
            session_id=session_id,
            repository_id=repository_id,
            index=index,
        )
        return shard

    def stage(self, entries: list[dict[str, Any]], actor: Actor) -> None:
        if self.sealed:
            raise NotFound("session not found or already closed")
        if not 1 <= len(entries) <= MAX_BATCH:
            raise Invalid(f"stage 1 to {MAX_BATCH} changes at a time")
        self._act(
            self.Staged,
            actor,
            session_id=self.session_id,
            repository_id=self.repository_id,
            entries=entries,
        )

    def seal(self, reason: str, actor: Actor) -> None:
        if not self.sealed:
            self._act(self.Sealed, actor, reason=reason)
