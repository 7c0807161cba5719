"""Audit replay: an organization's history from the event log, and its state at a moment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from application.identity import IdentityApplication
from application.organizations import OrganizationsApplication
from domain.organizations.agent import Agent
from domain.organizations.group import Group
from domain.organizations.organization import Organization
from domain.organizations.policy import Policy
from domain.organizations.role import Role
from domain.shared.errors import NotFound
from domain.shared.redaction import event_data
from domain.shared.values import stamp

PAGE = 1000


@dataclass
class AuditReport:
    """Who did what, to which resource, when — and how the organization stood at `until`."""

    organization: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    agents: list[dict[str, Any]] = field(default_factory=list)


def _events(app: Application[Any]) -> Iterator[Any]:
    position = 0
    while True:
        notes = app.recorder.select_notifications(start=position + 1, limit=PAGE)
        for note in notes:
            yield app.mapper.to_domain_event(note)
        if len(notes) < PAGE:
            return
        position = notes[-1].id


class AuditReplay:
    """Folds the log; never reads the (rebuildable) views, so it is the ground truth."""

    def __init__(
        self, identity: IdentityApplication, organizations: OrganizationsApplication
    ) -> None:
        self.identity = identity
        self.organizations = organizations

    def _org_id(self, name_or_id: str) -> str:
        try:
            return str(self.organizations.organization(name_or_id).id)
        except NotFound:
            pass
        found = ""
        for event in _events(self.organizations):  # a deleted organization's name
            if isinstance(event, Organization.Created) and name_or_id in (
                event.name,
                str(event.originator_id),
            ):
                found = str(event.originator_id)
        if not found:
            raise NotFound(f"organization '{name_or_id}' not found in the event log")
        return found

    def _name(self, kind: str, ident: str) -> str:
        if kind == "user":
            user = self.identity.user(ident)
            return user.username if user else ident
        if kind in ("operator", "system"):
            return kind
        aggregate = self.organizations.find(UUID(ident), object) if ident else None
        return str(getattr(aggregate, "name", ident))

    def replay(self, org: str, until: datetime | None = None) -> AuditReport:
        org_id = self._org_id(org)
        versions: dict[UUID, tuple[str, int]] = {}
        history: list[dict[str, Any]] = []
        for app in (self.organizations, self.identity):
            for event in _events(app):
                if getattr(event, "organization_id", "") != org_id:
                    continue
                if until is not None and event.timestamp > until:
                    continue
                if app is self.organizations:
                    versions[event.originator_id] = (
                        type(event).__qualname__.split(".")[0],
                        event.originator_version,
                    )
                history.append(self._line(event))
        history.sort(key=lambda h: (h["at"], h["resource_id"], h["version"]))
        state: dict[UUID, Any] = {
            i: self.organizations.repository.get(i, version=v) for i, (_, v) in versions.items()
        }
        return self._report(org_id, state, history)

    def _line(self, event: Any) -> dict[str, Any]:
        kind = type(event).__qualname__
        return {
            "at": stamp(event.timestamp),
            "actor_type": event.actor_type,
            "actor": self._name(event.actor_type, event.actor_id),
            "event": kind,
            "resource_type": kind.split(".")[0],
            "resource_id": str(event.originator_id),
            "version": event.originator_version,
            "data": event_data(event),
        }

    def _report(
        self, org_id: str, state: dict[UUID, Any], history: list[dict[str, Any]]
    ) -> AuditReport:
        org = state.get(UUID(org_id))
        if not isinstance(org, Organization):
            raise NotFound("the organization did not exist at that time")
        report = AuditReport(
            organization={
                "id": org_id,
                "name": org.name,
                "display_name": org.display_name,
                "deleted": org.deleted,
            },
            history=history,
        )
        names: dict[str, str] = {}
        for aggregate in state.values():
            if isinstance(aggregate, Group | Role | Agent | Policy):
                names[str(aggregate.id)] = aggregate.name
        report.members = sorted(
            (
                {"user_id": uid, "username": self._name("user", uid), "joined_at": at}
                for uid, at in org.members.items()
            ),
            key=lambda m: m["username"],
        )

        def label(key: str) -> str:
            kind, _, ident = key.partition(":")
            return f"{kind}:{names.get(ident) or self._name(kind, ident)}"

        for aggregate in sorted(state.values(), key=lambda a: getattr(a, "name", "")):
            if getattr(aggregate, "deleted", False):
                continue
            if isinstance(aggregate, Group):
                report.groups.append(
                    {
                        "id": str(aggregate.id),
                        "name": aggregate.name,
                        "members": sorted(label(k) for k in aggregate.members),
                    }
                )
            elif isinstance(aggregate, Policy):
                report.policies.append(
                    {
                        "id": str(aggregate.id),
                        "name": aggregate.name,
                        "is_builtin": aggregate.is_builtin,
                        "attached_to": sorted(label(k) for k in aggregate.attachments),
                    }
                )
            elif isinstance(aggregate, Role):
                report.roles.append(aggregate.name)
            elif isinstance(aggregate, Agent):
                report.agents.append(
                    {
                        "name": aggregate.name,
                        "created_by": label(
                            f"{aggregate.created_by.type}:{aggregate.created_by.id}"
                        ),
                        "inline_policy": aggregate.inline_policy,
                    }
                )
        return report
