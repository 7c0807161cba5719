"""The email outbox: the first process manager (events -> email jobs in `process_jobs`).

It is process-manager state, not a pure view: done jobs record emails already sent, so
`projections rebuild` leaves it alone. Job ids are the messages' ids, derived from the event,
so replaying the log never queues a second copy of the same email, and the mailer uses them
as Message-ID / file name, so a delivery repeated after a killed worker is one email.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from application.ports import EmailMessage
from application.processes import Job, ProcessManager
from domain.identity.user import User
from domain.organizations.invitation import Invitation
from projections.base import Cursor
from projections.processes import JOBS_TABLE, ProcessView

EMAIL = "email"
FOLLOWS: dict[str, tuple[type, ...]] = {
    "identity": (User.SignedUp, User.Approved, User.PasswordResetRequested, User.EmailAdded),
    "organizations": (Invitation.Created,),
}


class EmailOutbox(ProcessManager):
    """Emails owed because of identity and invitation events."""

    name = "outbox"
    follows = FOLLOWS

    def __init__(self, compose: Callable[[Any], list[EmailMessage]]) -> None:
        self.compose = compose

    def handle(self, event: Any) -> Sequence[Job]:
        return [email_job(message, self.key_of(event)) for message in self.compose(event)]


def email_job(message: EmailMessage, key: str) -> Job:
    payload = {"to": message.to, "subject": message.subject, "body": message.body}
    return Job(message.message_id, key, EMAIL, payload | {"headers": message.headers})


def message_of(job: Job) -> EmailMessage:
    return EmailMessage(
        message_id=job.id,
        to=job.payload["to"],
        subject=job.payload["subject"],
        body=job.payload["body"],
        headers=dict(job.payload.get("headers", {})),
    )


class OutboxView(ProcessView):
    """Queued emails; the SQL view `outbox` shows them as the old table did (operators)."""

    name = "outbox"
    # 2: the emails moved from the `outbox` table into `process_jobs`.
    version = 2
    follows = FOLLOWS

    def __init__(self, compose: Callable[[Any], list[EmailMessage]]) -> None:
        super().__init__(EmailOutbox(compose))

    def create_statements(self, dialect: str) -> list[str]:
        field = (
            "(payload::jsonb) ->> '{}'"
            if dialect == "postgresql"
            else "json_extract(payload, '$.{}')"
        )
        columns = ", ".join(
            f"{field.format(key)} AS {column}"
            for key, column in (
                ("to", "to_addr"),
                ("subject", "subject"),
                ("body", "body"),
                ("headers", "headers"),
            )
        )
        select = (
            f"SELECT id, {columns}, created_at, attempts, next_attempt_at, last_error,"
            f" done_at AS sent_at FROM {JOBS_TABLE} WHERE process = 'outbox'"
        )
        create = (
            "CREATE OR REPLACE VIEW" if dialect == "postgresql" else "CREATE VIEW IF NOT EXISTS"
        )
        return [*super().create_statements(dialect), f"{create} outbox AS {select}"]

    def migrate(self, cur: Cursor, dialect: str) -> None:
        """Move the rows of the version 1 `outbox` table into the queue (sent ones as done)."""
        if not _is_table(cur, dialect, "outbox"):
            return
        for statement in super().create_statements(dialect):
            cur.execute(statement)
        for row in cur.execute("SELECT * FROM outbox").fetchall():
            payload = {"to": row["to_addr"], "subject": row["subject"], "body": row["body"]}
            payload["headers"] = json.loads(row["headers"])
            cur.execute(
                f"INSERT INTO {JOBS_TABLE} (process, id, key, kind, payload, position, idx,"
                " created_at, attempts, next_attempt_at, last_error, done_at)"
                " VALUES ('outbox',?,?,?,?,0,0,?,?,?,?,?) ON CONFLICT (process, id) DO NOTHING",
                (row["id"], row["to_addr"], EMAIL, json.dumps(payload, sort_keys=True),
                 row["created_at"], row["attempts"], row["next_attempt_at"], row["last_error"],
                 row["sent_at"]),
            )  # fmt: skip
        cur.execute("DROP TABLE outbox")


def _is_table(cur: Cursor, dialect: str, name: str) -> bool:
    if dialect == "postgresql":
        sql = (
            "SELECT 1 AS x FROM information_schema.tables WHERE table_name = ?"
            " AND table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    else:
        sql = "SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?"
    return cur.execute(sql, (name,)).fetchone() is not None
