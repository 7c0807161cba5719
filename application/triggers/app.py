"""Trigger commands: create, update (partial bodies merged), toggle, delete; and the run
records the evaluation process writes."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError

from application.authz import Authorizer
from application.base import Result, TildeApplication
from application.catalog import CatalogApplication
from application.principal import Principal
from domain.shared.errors import Conflict, Invalid, NotFound
from domain.shared.ids import index_id, parse_uuid
from domain.shared.index import IndexEntry
from domain.triggers.conditions import parse_conditions
from domain.triggers.config import check_run_as, check_sandbox_config
from domain.triggers.run import TriggerRun, run_id
from domain.triggers.trigger import Trigger, check_trigger_name

KEEP: Any = object()  # an update field the request did not send: the stored value stays


def _description(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 2000:
        raise Invalid("description must be a string of at most 2000 characters")
    return value


def _name_key(repository_id: str) -> str:
    return f"trigger-name:{repository_id}"


class TriggersApplication(TildeApplication):
    """Sandbox triggers and their runs, event-sourced."""

    name = "triggers"
    snapshotting_intervals = {Trigger: 100}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        catalog: CatalogApplication,
        authorizer: Authorizer,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, **kwargs)
        self.catalog = catalog
        self.authorizer = authorizer

    # -- lookups --------------------------------------------------------------------------
    def trigger(self, repository_id: str, trigger_id: str) -> Trigger:
        """A live trigger of the repository (NotFound otherwise, also for a bad id)."""
        as_id = parse_uuid(trigger_id)
        found = self.find(as_id, Trigger) if as_id is not None else None
        if found is None or found.deleted or found.repository_id != repository_id:
            raise NotFound(f"trigger '{trigger_id[:100]}' not found")
        return found

    def run(self, trigger_id: str, commit_id: str) -> TriggerRun | None:
        return self.find(run_id(trigger_id, commit_id), TriggerRun)

    def _check_run_as(
        self, org_id: str, run_as: dict[str, str] | None, principal: Principal
    ) -> None:
        """`run_as` names a live agent or role of the organization (404) that the principal
        may act for (403): minting its API keys is the same power."""
        if run_as is None:
            return
        snap = self.authorizer.snapshot(org_id)
        kind, ident = run_as["type"], run_as["id"]
        if snap is None or not snap.knows(kind, ident):
            raise NotFound(f"run_as: {kind} '{ident[:64]}' not found")
        if kind == "agent":
            agent = snap.agents[ident]
            resource = {"agent": agent.name, "agent_owner": agent.created_by}
            self.authorizer.authorize(principal, org_id, "CreateAgentAPIKey", resource)
        else:
            self.authorizer.authorize(
                principal, org_id, "CreateRoleAPIKey", {"role": snap.roles[ident]}
            )

    def _claim(self, repository_id: str, name: str, owner: str) -> IndexEntry:
        entry = self.find(index_id(_name_key(repository_id), name), IndexEntry)
        if entry is None:
            return IndexEntry.claim(_name_key(repository_id), name, owner)
        if not entry.is_free:
            raise Conflict(f"a trigger named '{name}' already exists in this repository")
        entry.reclaim(owner)
        return entry

    def _release(self, repository_id: str, name: str, owner: UUID) -> IndexEntry | None:
        entry = self.find(index_id(_name_key(repository_id), name), IndexEntry)
        if entry is None or entry.is_free or entry.owner_id != str(owner):
            return None
        entry.release()
        return entry

    # -- commands -------------------------------------------------------------------------
    def create_trigger(
        self,
        org_id: str,
        repo_name: str,
        *,
        name: object,
        conditions: object,
        sandbox_config: object,
        description: object = None,
        enabled: object = True,
        run_as: object = None,
        principal: Principal,
    ) -> Result[Trigger]:
        repo = self.catalog.get_repository(org_id, repo_name, read_only=True)
        label = check_trigger_name(name)
        parsed = [c.as_dict() for c in parse_conditions(conditions)]
        config = check_sandbox_config(sandbox_config)
        who = check_run_as(run_as)
        if not isinstance(enabled, bool):
            raise Invalid("enabled must be a boolean")
        self._check_run_as(org_id, who, principal)
        trigger_id = uuid4()

        def command() -> Result[Trigger]:
            index = self._claim(str(repo.id), label, str(trigger_id))
            trigger = Trigger.create(
                trigger_id=trigger_id,
                organization_id=org_id,
                repository_id=str(repo.id),
                repository_name=repo.name,
                name=label,
                description=_description(description),
                enabled=enabled,
                conditions=parsed,
                sandbox_config=config,
                run_as=who,
                actor=principal.actor,
            )
            return Result(trigger, (self.record(trigger, index),))

        return self.retrying(command)

    def update_trigger(
        self,
        org_id: str,
        repo_name: str,
        trigger_id: str,
        *,
        name: object = KEEP,
        description: object = KEEP,
        conditions: object = KEEP,
        sandbox_config: object = KEEP,
        run_as: object = KEEP,
        principal: Principal,
    ) -> Result[Trigger]:
        """PUT: the SDK sends only the fields passed to `update()`, so an absent field
        keeps its stored value; the merged trigger is validated as a whole."""
        repo = self.catalog.get_repository(org_id, repo_name, read_only=True)
        label = None if name is KEEP else check_trigger_name(name)
        parsed = None if conditions is KEEP else [c.as_dict() for c in parse_conditions(conditions)]
        config = None if sandbox_config is KEEP else check_sandbox_config(sandbox_config)
        keep_run_as = run_as is KEEP
        who = None if keep_run_as else check_run_as(run_as)
        text = None if description is KEEP else _description(description)
        if not keep_run_as:
            self._check_run_as(org_id, who, principal)

        def command() -> Result[Trigger]:
            trigger = self.trigger(str(repo.id), trigger_id)
            new_name = trigger.name if label is None else label
            changed: list[Any] = []
            if new_name != trigger.name:
                changed.append(self._claim(str(repo.id), new_name, str(trigger.id)))
                released = self._release(str(repo.id), trigger.name, trigger.id)
                if released is not None:
                    changed.append(released)
            trigger.update(
                name=new_name,
                description=trigger.description if text is None else text,
                conditions=trigger.conditions if parsed is None else parsed,
                sandbox_config=trigger.sandbox_config if config is None else config,
                run_as=trigger.run_as if keep_run_as else who,
                actor=principal.actor,
            )
            return Result(trigger, (self.record(trigger, *changed),))

        return self.retrying(command)

    def toggle_trigger(
        self, org_id: str, repo_name: str, trigger_id: str, *, enabled: object, principal: Principal
    ) -> Result[Trigger]:
        if not isinstance(enabled, bool):
            raise Invalid("enabled must be a boolean")
        repo = self.catalog.get_repository(org_id, repo_name, read_only=True)

        def command() -> Result[Trigger]:
            trigger = self.trigger(str(repo.id), trigger_id)
            trigger.toggle(enabled, principal.actor)
            return Result(trigger, (self.record(trigger),))

        return self.retrying(command)

    def delete_trigger(
        self, org_id: str, repo_name: str, trigger_id: str, principal: Principal
    ) -> Result[None]:
        repo = self.catalog.get_repository(org_id, repo_name, read_only=True)

        def command() -> Result[None]:
            trigger = self.trigger(str(repo.id), trigger_id)
            trigger.delete(principal.actor)
            released = self._release(str(repo.id), trigger.name, trigger.id)
            return Result(None, (self.record(trigger, *([released] if released else [])),))

        return self.retrying(command)

    # -- runs (the evaluation process) ----------------------------------------------------
    def record_run(self, **fields: Any) -> TriggerRun:
        """The run of (trigger, commit): recorded now, or the one an earlier attempt (a
        killed worker, a second worker) recorded; never two."""
        run = TriggerRun.record(**fields)
        try:
            self.record(run)
        except IntegrityError:
            existing = self.find(run.id, TriggerRun)
            if existing is None:
                raise
            return existing
        return run

    def run_launched(self, run: TriggerRun, sandbox_id: str) -> None:
        def command() -> None:
            fresh = self.get(run.id, TriggerRun, "trigger run")
            fresh.launched(sandbox_id)
            self.record(fresh)

        self.retrying(command)

    def run_failed(self, run: TriggerRun, reason: str) -> None:
        def command() -> None:
            fresh = self.get(run.id, TriggerRun, "trigger run")
            fresh.failed(reason[:500])
            self.record(fresh)

        self.retrying(command)
