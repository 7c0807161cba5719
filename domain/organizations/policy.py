"""The Policy aggregate: named policy text and the principals it is attached to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.organizations.policy_language import compile_policy
from domain.shared.errors import Conflict, Invalid, NotFound
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor, stamp

PRINCIPAL_TYPES = ("user", "group", "role", "agent")


def principal_key(principal_type: str, principal_id: str) -> str:
    return f"{principal_type}:{principal_id}"


class Policy(OrgAggregate):
    """Policy text in the policy language, attachable to users, groups, roles and agents."""

    class Created(OrgCreated):
        """A policy was created (built-ins are seeded with the organization)."""

        name: str
        description: str
        text: str
        is_builtin: bool

        def apply(self, policy: Policy) -> None:
            start_state(policy, self)
            policy.name = self.name
            policy.description = self.description
            policy.text = self.text
            policy.is_builtin = self.is_builtin
            policy.attachments = {}

    class Updated(OrgEvent):
        """Name, description or text changed."""

        name: str
        description: str
        text: str

        def apply(self, policy: Policy) -> None:
            policy.name = self.name
            policy.description = self.description
            policy.text = self.text

    class Attached(OrgEvent):
        """The policy now applies to a principal."""

        principal_type: str
        principal_id: str

        def apply(self, policy: Policy) -> None:
            key = principal_key(self.principal_type, self.principal_id)
            policy.attachments = {
                **policy.attachments,
                key: {
                    "attached_by_type": self.actor_type,
                    "attached_by": self.actor_id,
                    "attached_at": stamp(self.timestamp),
                },
            }

    class Detached(OrgEvent):
        """The policy no longer applies to a principal."""

        principal_type: str
        principal_id: str

        def apply(self, policy: Policy) -> None:
            key = principal_key(self.principal_type, self.principal_id)
            policy.attachments = {k: v for k, v in policy.attachments.items() if k != key}

    class Deleted(OrgEvent):
        """The policy was deleted (and with it every attachment)."""

        def apply(self, policy: Policy) -> None:
            policy.deleted = True
            policy.attachments = {}

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        name: str
        description: str
        text: str
        is_builtin: bool
        attachments: dict[str, dict[str, str]]

    @classmethod
    def create(
        cls,
        *,
        policy_id: Any,
        organization_id: str,
        name: str,
        description: str,
        text: str,
        actor: Actor,
        is_builtin: bool = False,
    ) -> Policy:
        compile_policy(text)
        policy: Policy = cls._start(
            cls.Created,
            id=policy_id,
            organization_id=organization_id,
            actor=actor,
            name=name,
            description=description,
            text=text,
            is_builtin=is_builtin,
        )
        return policy

    def is_attached(self, principal_type: str, principal_id: str) -> bool:
        return principal_key(principal_type, principal_id) in self.attachments

    def update(self, *, name: str, description: str, text: str, actor: Actor) -> None:
        if self.is_builtin:
            raise Invalid(f"the built-in policy '{self.name}' cannot be changed")
        compile_policy(text)
        if (name, description, text) != (self.name, self.description, self.text):
            self._act(self.Updated, actor, name=name, description=description, text=text)

    def attach(self, principal_type: str, principal_id: str, actor: Actor) -> None:
        if principal_type not in PRINCIPAL_TYPES:
            raise Invalid(f"principal_type must be one of {', '.join(PRINCIPAL_TYPES)}")
        if self.is_attached(principal_type, principal_id):
            raise Conflict(f"the policy is already attached to {principal_type} {principal_id}")
        self._act(self.Attached, actor, principal_type=principal_type, principal_id=principal_id)

    def detach(self, principal_type: str, principal_id: str, actor: Actor) -> None:
        if not self.is_attached(principal_type, principal_id):
            raise NotFound(f"the policy is not attached to {principal_type} {principal_id}")
        self._act(self.Detached, actor, principal_type=principal_type, principal_id=principal_id)

    def delete(self, actor: Actor) -> None:
        if self.is_builtin:
            raise Invalid(f"the built-in policy '{self.name}' cannot be deleted")
        if not self.deleted:
            self._act(self.Deleted, actor)
