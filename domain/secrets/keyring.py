"""The KeyRing aggregate: an organization's data keys, each wrapped by a key-encryption key."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from domain.shared.ids import derived_id
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor


def keyring_id(org_id: str) -> UUID:
    return derived_id("secrets-keyring", org_id)


class KeyRing(OrgAggregate):
    """Data keys never appear in clear: each is stored wrapped (AES-GCM) under the key-encryption
    key named by `kek_id`. Rotating that key re-wraps them; no ciphertext made with a data key
    changes, because the data key itself does not."""

    class Created(OrgCreated):
        """The organization's first data key was made."""

        data_key_id: str
        kek_id: str
        wrapped: str

        def apply(self, ring: KeyRing) -> None:
            start_state(ring, self)
            ring.current = self.data_key_id
            ring.keys = {self.data_key_id: (self.kek_id, self.wrapped)}

    class Rewrapped(OrgEvent):
        """Data keys were wrapped again under another key-encryption key."""

        wrapped_keys: dict[str, list[str]]  # data key id -> [kek id, wrapped]

        def apply(self, ring: KeyRing) -> None:
            for data_key_id, (kek_id, wrapped) in self.wrapped_keys.items():
                ring.keys[data_key_id] = (kek_id, wrapped)

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        current: str
        keys: dict[str, tuple[str, str]]

    @classmethod
    def create(
        cls, *, organization_id: str, data_key_id: str, kek_id: str, wrapped: str, actor: Actor
    ) -> KeyRing:
        ring: KeyRing = cls._start(
            cls.Created,
            id=keyring_id(organization_id),
            organization_id=organization_id,
            actor=actor,
            data_key_id=data_key_id,
            kek_id=kek_id,
            wrapped=wrapped,
        )
        return ring

    def stale(self, kek_id: str) -> list[str]:
        """Data keys not wrapped under `kek_id`."""
        return sorted(d for d, (k, _) in self.keys.items() if k != kek_id)

    def rewrap(self, wrapped_keys: dict[str, tuple[str, str]], actor: Actor) -> None:
        unknown = set(wrapped_keys) - set(self.keys)
        if unknown:
            raise ValueError(f"unknown data keys {sorted(unknown)}")
        if wrapped_keys:
            self._act(
                self.Rewrapped,
                actor,
                wrapped_keys={d: [k, w] for d, (k, w) in sorted(wrapped_keys.items())},
            )
