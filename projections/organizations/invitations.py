"""InvitationsView: invitations with their state, for both sides of the invitation."""

from __future__ import annotations

import json
from typing import Any

from domain.organizations.invitation import Invitation
from domain.shared.values import iso
from projections.base import Cursor, Reader, View, on


class InvitationsView(View):
    """One row per invitation; `expired` is computed when reading."""

    name = "invitations"
    follows = {
        "organizations": (
            Invitation.Created,
            Invitation.Accepted,
            Invitation.Declined,
            Invitation.Revoked,
        )
    }
    tables = ("invitations",)

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS invitations ("
            " id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, email TEXT NOT NULL,"
            " user_id TEXT NOT NULL, invited_by TEXT NOT NULL, outcome TEXT NOT NULL,"
            " group_ids TEXT NOT NULL, policy_ids TEXT NOT NULL, created_at TEXT NOT NULL,"
            " expires_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS invitations_org"
            " ON invitations (organization_id, created_at)",
            "CREATE INDEX IF NOT EXISTS invitations_email ON invitations (email, outcome)",
            "CREATE INDEX IF NOT EXISTS invitations_user ON invitations (user_id, outcome)",
        ]

    @on(Invitation.Created)
    def _created(self, cur: Cursor, e: Invitation.Created) -> None:
        at = iso(e.timestamp)
        cur.execute(
            "INSERT INTO invitations (id, organization_id, email, user_id, invited_by,"
            " outcome, group_ids, policy_ids, created_at, expires_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                str(e.originator_id),
                e.organization_id,
                e.email,
                e.user_id,
                e.actor_id,
                "pending",
                json.dumps(e.group_ids),
                json.dumps(e.policy_ids),
                at,
                iso(e.expires_at),
                at,
            ),
        )

    @on(Invitation.Accepted, Invitation.Declined, Invitation.Revoked)
    def _ended(self, cur: Cursor, e: Any) -> None:
        outcome = {"Accepted": "accepted", "Declined": "declined", "Revoked": "revoked"}[
            type(e).__name__
        ]
        cur.execute(
            "UPDATE invitations SET outcome = ?, updated_at = ? WHERE id = ?",
            (outcome, iso(e.timestamp), str(e.originator_id)),
        )


def _invitation(row: dict[str, Any], now: str) -> dict[str, Any]:
    status = row["outcome"]
    if status == "pending" and row["expires_at"] <= now:
        status = "expired"
    return {
        "id": row["id"],
        "organization_id": row["organization_id"],
        "email": row["email"],
        "invited_by": row["invited_by"],
        "status": status,
        "created_at": row["created_at"],
        "expires_at": row["expires_at"],
    }


def org_invitations(db: Reader, org_id: str, now: str) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT * FROM invitations WHERE organization_id = ? ORDER BY created_at DESC, id",
        (org_id,),
    )
    return [_invitation(r, now) for r in rows]


def invitations_for(db: Reader, user_id: str, emails: list[str], now: str) -> list[dict[str, Any]]:
    """Pending invitations addressed to a user (by id or by one of their emails)."""
    marks = ",".join("?" * len(emails)) or "''"
    rows = db.query(
        "SELECT i.*, o.name AS organization_name, o.display_name AS organization_display_name,"
        " u.full_name AS inviter_full_name, u.username AS inviter_username"
        " FROM invitations i JOIN organizations o ON o.id = i.organization_id"
        " LEFT JOIN users u ON u.id = i.invited_by"
        f" WHERE (i.user_id = ? OR i.email IN ({marks})) AND i.outcome = 'pending'"
        " AND i.expires_at > ? AND o.deleted = ? ORDER BY i.created_at DESC",
        (user_id, *emails, now, False),
    )
    return [
        {
            **_invitation(r, now),
            "organization_name": r["organization_name"],
            "organization_display_name": r["organization_display_name"],
            "inviter_name": r["inviter_full_name"] or r["inviter_username"] or "",
        }
        for r in rows
    ]


def has_open_invitation(db: Reader, email: str, now: str) -> bool:
    return (
        db.query_one(
            "SELECT 1 AS yes FROM invitations WHERE email = ? AND outcome = 'pending'"
            " AND expires_at > ?",
            (email, now),
        )
        is not None
    )
