"""The Role aggregate: a non-human identity for automation, authenticated by `trk-` keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor


class Role(OrgAggregate):
    """A CI/CD identity; what it may do comes from the policies attached to it."""

    class Created(OrgCreated):
        """A role was created."""

        name: str
        description: str

        def apply(self, role: Role) -> None:
            start_state(role, self)
            role.name = self.name
            role.description = self.description

    class Deleted(OrgEvent):
        """The role was deleted; its keys stop working."""

        def apply(self, role: Role) -> None:
            role.deleted = True

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        name: str
        description: str

    @classmethod
    def create(
        cls, *, role_id: Any, organization_id: str, name: str, description: str, actor: Actor
    ) -> Role:
        role: Role = cls._start(
            cls.Created,
            id=role_id,
            organization_id=organization_id,
            actor=actor,
            name=name,
            description=description,
        )
        return role

    def delete(self, actor: Actor) -> None:
        if not self.deleted:
            self._act(self.Deleted, actor)
