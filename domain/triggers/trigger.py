"""The Trigger aggregate: conditions on a repository's commits and the sandbox they launch."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.shared.errors import Invalid
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor, stamp

MAX_NAME = 100


def check_trigger_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("name is required")
    if len(value) > MAX_NAME or any(ord(c) < 32 for c in value):
        raise Invalid(f"name must be 1-{MAX_NAME} printable characters")
    return value


class Trigger(OrgAggregate):
    """Launches a sandbox for each commit of its repository that matches a condition."""

    class Created(OrgCreated):
        """A trigger was created."""

        repository_id: str
        repository_name: str
        name: str
        description: str
        enabled: bool
        conditions: list[dict[str, Any]]
        sandbox_config: dict[str, Any]
        run_as: dict[str, str] | None

        def apply(self, trigger: Trigger) -> None:
            start_state(trigger, self)
            trigger.repository_id = self.repository_id
            trigger.repository_name = self.repository_name
            trigger.name = self.name
            trigger.description = self.description
            trigger.enabled = self.enabled
            trigger.conditions = self.conditions
            trigger.sandbox_config = self.sandbox_config
            trigger.run_as = self.run_as
            trigger.enabled_at = self.timestamp

    class Updated(OrgEvent):
        """Name, description, conditions, sandbox config or run_as changed."""

        name: str
        description: str
        conditions: list[dict[str, Any]]
        sandbox_config: dict[str, Any]
        run_as: dict[str, str] | None

        def apply(self, trigger: Trigger) -> None:
            trigger.name = self.name
            trigger.description = self.description
            trigger.conditions = self.conditions
            trigger.sandbox_config = self.sandbox_config
            trigger.run_as = self.run_as

    class Toggled(OrgEvent):
        """Enabled or disabled: a disabled trigger records nothing, and enabling it again
        does not replay the commits it missed (only commits after `enabled_at` fire)."""

        enabled: bool

        def apply(self, trigger: Trigger) -> None:
            trigger.enabled = self.enabled
            if self.enabled:
                trigger.enabled_at = self.timestamp

    class Deleted(OrgEvent):
        """The trigger was deleted."""

        def apply(self, trigger: Trigger) -> None:
            trigger.deleted = True
            trigger.enabled = False

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        repository_id: str
        repository_name: str
        name: str
        description: str
        enabled: bool
        conditions: list[dict[str, Any]]
        sandbox_config: dict[str, Any]
        run_as: dict[str, str] | None
        enabled_at: datetime

    @classmethod
    def create(
        cls,
        *,
        trigger_id: Any,
        organization_id: str,
        repository_id: str,
        repository_name: str,
        name: str,
        description: str,
        enabled: bool,
        conditions: list[dict[str, Any]],
        sandbox_config: dict[str, Any],
        run_as: dict[str, str] | None,
        actor: Actor,
    ) -> Trigger:
        trigger: Trigger = cls._start(
            cls.Created,
            id=trigger_id,
            organization_id=organization_id,
            actor=actor,
            repository_id=repository_id,
            repository_name=repository_name,
            name=check_trigger_name(name),
            description=description,
            enabled=enabled,
            conditions=conditions,
            sandbox_config=sandbox_config,
            run_as=run_as,
        )
        return trigger

    def update(
        self,
        *,
        name: str,
        description: str,
        conditions: list[dict[str, Any]],
        sandbox_config: dict[str, Any],
        run_as: dict[str, str] | None,
        actor: Actor,
    ) -> None:
        new = (check_trigger_name(name), description, conditions, sandbox_config, run_as)
        old = (self.name, self.description, self.conditions, self.sandbox_config, self.run_as)
        if new != old:
            self._act(
                self.Updated,
                actor,
                name=name,
                description=description,
                conditions=conditions,
                sandbox_config=sandbox_config,
                run_as=run_as,
            )

    def toggle(self, enabled: bool, actor: Actor) -> None:
        if enabled != self.enabled:
            self._act(self.Toggled, actor, enabled=enabled)

    def delete(self, actor: Actor) -> None:
        if not self.deleted:
            self._act(self.Deleted, actor)

    def fires_for(self, committed_at: str) -> bool:
        """Whether a commit made at `committed_at` (ISO) is this trigger's to evaluate."""
        return self.enabled and not self.deleted and stamp(self.enabled_at) <= committed_at
