"""Uniqueness through deterministic-id index aggregates (usernames, emails, user codes)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.shared.ids import index_id


class IndexEntry(Aggregate):
    """Reserves one key of one kind for an owner; saved in the same `save()` as the owner.

    Its id is `uuid5(kind:key)`, so a second claim of the same key collides on the
    event store's (id, version) primary key and the whole save is rejected atomically.
    """

    class Claimed(Aggregate.Created):
        """The key was reserved for `owner_id`."""

        kind: str
        key: str
        owner_id: str

        def apply(self, entry: IndexEntry) -> None:
            entry.kind = self.kind
            entry.key = self.key
            entry.owner_id = self.owner_id

    class Released(Aggregate.Event):
        """The key is free again."""

        def apply(self, entry: IndexEntry) -> None:
            entry.owner_id = ""

    class Reclaimed(Aggregate.Event):
        """A released key was reserved again."""

        owner_id: str

        def apply(self, entry: IndexEntry) -> None:
            entry.owner_id = self.owner_id

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        kind: str
        key: str
        owner_id: str

    @classmethod
    def claim(cls, kind: str, key: str, owner_id: UUID | str) -> IndexEntry:
        return cls._create(
            cls.Claimed, id=index_id(kind, key), kind=kind, key=key, owner_id=str(owner_id)
        )

    @property
    def is_free(self) -> bool:
        return not self.owner_id

    def release(self) -> None:
        if not self.is_free:
            self.trigger_event(self.Released)

    def reclaim(self, owner_id: UUID | str) -> None:
        self.trigger_event(self.Reclaimed, owner_id=str(owner_id))
