"""AuditView: who did what to which resource when, per organization (from every context)."""

from __future__ import annotations

import json
from typing import Any

from domain.catalog.repository import Repository
from domain.catalog.session import Session
from domain.connectors.connector import Connector
from domain.identity.api_key import ApiKey
from domain.imports.job import ImportJob
from domain.organizations.agent import Agent
from domain.organizations.group import Group, GroupGraph
from domain.organizations.invitation import Invitation
from domain.organizations.organization import Organization
from domain.organizations.policy import Policy
from domain.organizations.role import Role
from domain.sandboxes.sandbox import Sandbox
from domain.shared.redaction import event_data, redact
from domain.shared.scoped import OrgCreated, OrgEvent
from domain.shared.values import iso
from projections.base import Cursor, Reader, View


def _events(*aggregates: type) -> tuple[type, ...]:
    found = []
    for aggregate in aggregates:
        for value in vars(aggregate).values():
            if isinstance(value, type) and issubclass(value, OrgCreated | OrgEvent):
                found.append(value)
    return tuple(found)


class AuditView(View):
    """One row per organization-scoped event, in the order they happened."""

    name = "audit"
    # 2: sandbox events joined (rebuilt once so their log gets its tracking row).
    # 3: connector and import events joined.
    version = 3
    follows = {
        "organizations": _events(Organization, Invitation, Group, GroupGraph, Policy, Role, Agent),
        "identity": (ApiKey.Created, ApiKey.Revoked),
        "catalog": (
            *_events(Repository),
            Session.Opened,
            Session.ApprovalRequested,
            Session.Committed,
            Session.RolledBack,
        ),
        # Every sandbox start, every command run in one and every terminal attachment is
        # on the record.
        "sandboxes": (
            Sandbox.Requested,
            Sandbox.Started,
            Sandbox.ExecRecorded,
            Sandbox.TerminalAttached,
            Sandbox.TerminalDetached,
            Sandbox.CancelRequested,
            Sandbox.FinishRequested,
            Sandbox.Finished,
        ),
        # Connectors (their configs redacted: domain/shared/redaction.py) and who imported
        # what from where, with the outcome; progress events stay out.
        "connectors": _events(Connector),
        "imports": (ImportJob.Requested, ImportJob.Completed, ImportJob.Failed),
    }
    tables = ("audit_log",)

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS audit_log ("
            " organization_id TEXT NOT NULL, occurred_at TEXT NOT NULL, stream_id TEXT NOT NULL,"
            " version BIGINT NOT NULL, event_type TEXT NOT NULL, resource_type TEXT NOT NULL,"
            " actor_type TEXT NOT NULL, actor_id TEXT NOT NULL, data TEXT NOT NULL,"
            " PRIMARY KEY (stream_id, version))",
            "CREATE INDEX IF NOT EXISTS audit_log_org ON audit_log"
            " (organization_id, occurred_at, stream_id, version)",
        ]

    def apply(self, cur: Cursor, event: Any) -> None:
        org_id = getattr(event, "organization_id", "")
        if not org_id:
            return
        event_type = type(event).__qualname__
        cur.execute(
            "INSERT INTO audit_log (organization_id, occurred_at, stream_id, version, event_type,"
            " resource_type, actor_type, actor_id, data) VALUES (?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (stream_id, version) DO NOTHING",
            (
                org_id,
                iso(event.timestamp),
                str(event.originator_id),
                event.originator_version,
                event_type,
                event_type.split(".")[0],
                getattr(event, "actor_type", ""),
                getattr(event, "actor_id", ""),
                json.dumps(event_data(event), sort_keys=True, default=str),
            ),
        )


def audit_page(
    db: Reader,
    org_id: str,
    *,
    since: str = "",
    until: str = "",
    actor: str = "",
    event_type: str = "",
    after: str = "",
    amount: int = 100,
) -> list[dict[str, Any]]:
    """Entries oldest first; `after` is the previous page's cursor."""
    sql = (
        "SELECT a.*, COALESCE(u.username, r.name, g.name, '') AS actor_name FROM audit_log a"
        " LEFT JOIN users u ON a.actor_type = 'user' AND u.id = a.actor_id"
        " LEFT JOIN roles r ON a.actor_type = 'role' AND r.id = a.actor_id"
        " LEFT JOIN agents g ON a.actor_type = 'agent' AND g.id = a.actor_id"
        " WHERE a.organization_id = ?"
    )
    params: list[Any] = [org_id]
    if since:
        sql += " AND a.occurred_at >= ?"
        params.append(since)
    if until:
        sql += " AND a.occurred_at <= ?"
        params.append(until)
    if actor:
        kind, _, ident = actor.rpartition(":")
        sql += " AND a.actor_id = ?" + (" AND a.actor_type = ?" if kind else "")
        params += [ident, kind] if kind else [ident]
    if event_type:
        sql += " AND (a.event_type = ? OR a.event_type LIKE ?)"
        params += [event_type, f"%.{event_type}"]
    if after:
        at, stream, version = after.split("|")
        sql += (
            " AND (a.occurred_at > ? OR (a.occurred_at = ? AND (a.stream_id > ? OR"
            " (a.stream_id = ? AND a.version > ?))))"
        )
        params += [at, at, stream, stream, int(version)]
    rows = db.query(
        sql + " ORDER BY a.occurred_at, a.stream_id, a.version LIMIT ?", (*params, amount)
    )
    return [
        {
            "id": f"{r['stream_id']}:{r['version']}",
            "occurred_at": r["occurred_at"],
            "actor_type": r["actor_type"],
            "actor_id": r["actor_id"],
            "actor_name": r["actor_name"],
            "event_type": r["event_type"],
            "resource_type": r["resource_type"],
            "resource_id": r["stream_id"],
            # Rows written under an older rule obey today's without a rebuild.
            "data": redact(r["event_type"], json.loads(r["data"])),
            "cursor": f"{r['occurred_at']}|{r['stream_id']}|{r['version']}",
        }
        for r in rows
    ]
