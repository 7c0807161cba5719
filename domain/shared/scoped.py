"""Organization-scoped aggregates: every event records its organization and acting principal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from domain.shared.values import Actor


class OrgCreated(Aggregate.Created):
    """Base of the creation events of organization-scoped aggregates."""

    organization_id: str
    actor_type: str
    actor_id: str


class OrgEvent(Aggregate.Event):
    """Base of every later event of an organization-scoped aggregate."""

    organization_id: str
    actor_type: str
    actor_id: str


class OrgAggregate(Aggregate):
    """An aggregate that belongs to one organization; events record who acted."""

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        organization_id: str
        created_by: Actor
        deleted: bool

    def _act(self, event_class: type[Any], actor: Actor, **fields: Any) -> None:
        self.trigger_event(
            event_class,
            organization_id=self.organization_id,
            actor_type=actor.type,
            actor_id=actor.id,
            **fields,
        )

    @classmethod
    def _start(
        cls, event_class: type[Any], *, id: Any, organization_id: str, actor: Actor, **fields: Any
    ) -> Any:
        return cls._create(
            event_class,
            id=id,
            organization_id=organization_id,
            actor_type=actor.type,
            actor_id=actor.id,
            **fields,
        )


def start_state(aggregate: OrgAggregate, event: OrgCreated) -> None:
    """Common state every creation event sets."""
    aggregate.organization_id = event.organization_id
    aggregate.created_by = Actor(event.actor_type, event.actor_id)
    aggregate.deleted = False
