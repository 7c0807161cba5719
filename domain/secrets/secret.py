"""The Secret aggregate: one key of a repository's or an agent's secrets, as ciphertext."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.secrets.rules import SCOPES
from domain.shared.errors import NotFound
from domain.shared.ids import derived_id
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor


def secret_id(org_id: str, scope: str, scope_id: str, key: str) -> UUID:
    """One stream per (organization, repository or agent, key): re-creating a deleted key
    continues its stream."""
    return derived_id("secret", org_id, scope, scope_id, key)


class Secret(OrgAggregate):
    """A secret's value is only ever held as a ciphertext bound to (org, scope, key)."""

    class Created(OrgCreated):
        """A secret was created (its value encrypted)."""

        scope: str
        scope_id: str
        key: str
        ciphertext: str

        def apply(self, secret: Secret) -> None:
            start_state(secret, self)
            secret.scope = self.scope
            secret.scope_id = self.scope_id
            secret.key = self.key
            secret.ciphertext = self.ciphertext
            secret.created_at = secret.updated_at = self.timestamp

    class Updated(OrgEvent):
        """The secret's value changed; who created it stays."""

        ciphertext: str

        def apply(self, secret: Secret) -> None:
            secret.ciphertext = self.ciphertext
            secret.updated_at = self.timestamp

    class Recreated(OrgEvent):
        """A deleted secret's key was set again: a new secret under the same name."""

        ciphertext: str

        def apply(self, secret: Secret) -> None:
            secret.ciphertext = self.ciphertext
            secret.created_by = Actor(self.actor_type, self.actor_id)
            secret.created_at = secret.updated_at = self.timestamp
            secret.deleted = False

    class Deleted(OrgEvent):
        """The secret was deleted (soft): no listing, read or sandbox sees it again."""

        def apply(self, secret: Secret) -> None:
            secret.deleted = True
            secret.ciphertext = ""
            secret.updated_at = self.timestamp

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        scope: str
        scope_id: str
        key: str
        ciphertext: str
        created_at: datetime
        updated_at: datetime

    @classmethod
    def create(
        cls,
        *,
        organization_id: str,
        scope: str,
        scope_id: str,
        key: str,
        ciphertext: str,
        actor: Actor,
    ) -> Secret:
        if scope not in SCOPES:
            raise ValueError(f"unknown secret scope {scope!r}")
        secret: Secret = cls._start(
            cls.Created,
            id=secret_id(organization_id, scope, scope_id, key),
            organization_id=organization_id,
            actor=actor,
            scope=scope,
            scope_id=scope_id,
            key=key,
            ciphertext=ciphertext,
        )
        return secret

    def put(self, ciphertext: str, actor: Actor) -> None:
        """Set the value: an update keeps the creator; after a delete it starts anew."""
        self._act(self.Recreated if self.deleted else self.Updated, actor, ciphertext=ciphertext)

    def delete(self, actor: Actor) -> None:
        if self.deleted:
            raise NotFound(f"secret '{self.key}' not found")
        self._act(self.Deleted, actor)

    def __repr__(self) -> str:
        # Never the ciphertext: it is not secret, but a repr has no reason to carry it.
        return f"Secret(id={self.id}, {self.scope}={self.scope_id}, key={self.key!r})"

    def state(self) -> dict[str, Any]:
        """The metadata a listing shows (never the value)."""
        return {
            "key": self.key,
            "created_by_type": self.created_by.type,
            "created_by": self.created_by.id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
