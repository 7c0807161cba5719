"""OutboxView: emails owed because of events; a sender delivers and marks them.

It is process-manager state, not a pure view: `sent_at` records side effects already done,
so `projections rebuild` leaves it alone. Rows are keyed by a message id derived from the
event, so replaying the log never queues a second copy of the same email.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from application.ports import EmailMessage
from domain.identity.user import User
from domain.organizations.invitation import Invitation
from domain.shared.values import iso
from projections.base import Cursor, Reader, View


class OutboxView(View):
    """Queued emails (to, subject, body) with delivery state."""

    name = "outbox"
    rebuildable = False
    follows = {
        "identity": (User.SignedUp, User.Approved, User.PasswordResetRequested, User.EmailAdded),
        "organizations": (Invitation.Created,),
    }
    tables = ("outbox",)

    def __init__(self, compose: Callable[[Any], list[EmailMessage]]) -> None:
        self.compose = compose

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS outbox ("
            " id TEXT PRIMARY KEY, to_addr TEXT NOT NULL, subject TEXT NOT NULL,"
            " body TEXT NOT NULL, headers TEXT NOT NULL, created_at TEXT NOT NULL,"
            " attempts INTEGER NOT NULL, next_attempt_at TEXT NOT NULL,"
            " last_error TEXT, sent_at TEXT)",
            "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (sent_at, next_attempt_at)",
        ]

    def apply(self, cur: Cursor, event: Any) -> None:
        for message in self.compose(event):
            at = iso(event.timestamp)
            cur.execute(
                "INSERT INTO outbox (id, to_addr, subject, body, headers, created_at, attempts,"
                " next_attempt_at, last_error, sent_at) VALUES (?,?,?,?,?,?,0,?,NULL,NULL)"
                " ON CONFLICT (id) DO NOTHING",
                (
                    message.message_id,
                    message.to,
                    message.subject,
                    message.body,
                    json.dumps(message.headers, sort_keys=True),
                    at,
                    at,
                ),
            )


def pending(db: Reader, now: str, *, limit: int = 20) -> list[dict[str, Any]]:
    return db.query(
        "SELECT * FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= ?"
        " ORDER BY created_at, id LIMIT ?",
        (now, limit),
    )


def message_of(row: dict[str, Any]) -> EmailMessage:
    return EmailMessage(
        message_id=row["id"],
        to=row["to_addr"],
        subject=row["subject"],
        body=row["body"],
        headers=json.loads(row["headers"]),
    )
