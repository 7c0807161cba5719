"""The Agent aggregate: a non-human identity with metadata and an inline policy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.organizations.policy_language import compile_policy
from domain.shared.errors import Invalid
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor

METADATA_MAX_KEYS = 64


def check_metadata(metadata: object) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise Invalid("metadata must be an object of string values")
    if len(metadata) > METADATA_MAX_KEYS or any(
        len(k) > 128 or len(v) > 2048 for k, v in metadata.items()
    ):
        raise Invalid(
            f"metadata allows at most {METADATA_MAX_KEYS} keys of 128 characters and values of 2048"
        )
    return dict(metadata)


class Agent(OrgAggregate):
    """An automated actor. Its authority is its inline policy (plus policies attached to it)
    intersected with what its creator may do; with neither it can do nothing."""

    class Created(OrgCreated):
        """An agent was created by a user or a role."""

        name: str
        description: str
        metadata: dict[str, str]
        inline_policy: str

        def apply(self, agent: Agent) -> None:
            start_state(agent, self)
            agent.name = self.name
            agent.description = self.description
            agent.metadata = dict(self.metadata)
            agent.inline_policy = self.inline_policy
            agent.inline_policy_updated_at = self.timestamp if self.inline_policy else None

    class Updated(OrgEvent):
        """Description, metadata or inline policy changed."""

        description: str
        metadata: dict[str, str]
        inline_policy: str
        inline_policy_changed: bool

        def apply(self, agent: Agent) -> None:
            agent.description = self.description
            agent.metadata = dict(self.metadata)
            agent.inline_policy = self.inline_policy
            if self.inline_policy_changed:
                agent.inline_policy_updated_at = self.timestamp

    class Deleted(OrgEvent):
        """The agent was deleted; its keys stop working."""

        def apply(self, agent: Agent) -> None:
            agent.deleted = True

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        name: str
        description: str
        metadata: dict[str, str]
        inline_policy: str
        inline_policy_updated_at: Any

    @classmethod
    def create(
        cls,
        *,
        agent_id: Any,
        organization_id: str,
        name: str,
        description: str,
        metadata: dict[str, str],
        inline_policy: str,
        actor: Actor,
    ) -> Agent:
        if actor.type not in ("user", "role"):
            raise Invalid("agents are created by users or roles")
        if inline_policy:
            compile_policy(inline_policy)
        agent: Agent = cls._start(
            cls.Created,
            id=agent_id,
            organization_id=organization_id,
            actor=actor,
            name=name,
            description=description,
            metadata=metadata,
            inline_policy=inline_policy,
        )
        return agent

    def update(
        self,
        *,
        description: str | None,
        metadata: dict[str, str] | None,
        inline_policy: str | None,
        actor: Actor,
    ) -> None:
        new_description = self.description if description is None else description
        new_metadata = self.metadata if metadata is None else metadata
        new_policy = self.inline_policy if inline_policy is None else inline_policy
        if new_policy:
            compile_policy(new_policy)
        if (new_description, new_metadata, new_policy) != (
            self.description,
            self.metadata,
            self.inline_policy,
        ):
            self._act(
                self.Updated,
                actor,
                description=new_description,
                metadata=new_metadata,
                inline_policy=new_policy,
                inline_policy_changed=new_policy != self.inline_policy,
            )

    def delete(self, actor: Actor) -> None:
        if not self.deleted:
            self._act(self.Deleted, actor)
