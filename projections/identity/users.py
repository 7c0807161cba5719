"""UsersView: users and their emails, for listings, search and the operator's CLI."""

from __future__ import annotations

from typing import Any

from domain.identity.user import User
from domain.shared.values import iso
from projections.base import Cursor, Reader, View, on


class UsersView(View):
    """One row per user and one per email address."""

    name = "users"
    follows = {
        "identity": (
            User.SignedUp,
            User.Approved,
            User.AdminGranted,
            User.ProfileUpdated,
            User.EmailAdded,
            User.EmailVerified,
            User.Deleted,
        )
    }
    tables = ("users", "user_emails")

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS users ("
            " id TEXT PRIMARY KEY, username TEXT NOT NULL, email TEXT NOT NULL,"
            " full_name TEXT NOT NULL, company TEXT NOT NULL, bio TEXT NOT NULL,"
            " status TEXT NOT NULL, is_admin BOOLEAN NOT NULL, source TEXT NOT NULL,"
            " created_at TEXT NOT NULL, updated_at TEXT NOT NULL, approved_at TEXT)",
            "CREATE UNIQUE INDEX IF NOT EXISTS users_username ON users (username)",
            "CREATE INDEX IF NOT EXISTS users_status ON users (status, username)",
            "CREATE TABLE IF NOT EXISTS user_emails ("
            " id TEXT PRIMARY KEY, user_id TEXT NOT NULL, email TEXT NOT NULL,"
            " is_primary BOOLEAN NOT NULL, verified BOOLEAN NOT NULL, created_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS user_emails_user ON user_emails (user_id, created_at)",
        ]

    @on(User.SignedUp)
    def _signed_up(self, cur: Cursor, e: User.SignedUp) -> None:
        at = iso(e.timestamp)
        cur.execute(
            "INSERT INTO users (id, username, email, full_name, company, bio, status, is_admin,"
            " source, created_at, updated_at, approved_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                str(e.originator_id),
                e.username,
                e.email,
                e.full_name,
                e.company,
                "",
                e.status,
                e.is_admin,
                e.source,
                at,
                at,
                at if e.status == "active" else None,
            ),
        )
        cur.execute(
            "INSERT INTO user_emails (id, user_id, email, is_primary, verified, created_at)"
            " VALUES (?,?,?,?,?,?)",
            (e.email_id, str(e.originator_id), e.email, True, False, at),
        )

    @on(User.Approved)
    def _approved(self, cur: Cursor, e: User.Approved) -> None:
        at = iso(e.timestamp)
        cur.execute(
            "UPDATE users SET status = 'active', approved_at = ?, updated_at = ? WHERE id = ?",
            (at, at, str(e.originator_id)),
        )

    @on(User.AdminGranted)
    def _admin(self, cur: Cursor, e: User.AdminGranted) -> None:
        cur.execute(
            "UPDATE users SET is_admin = ?, updated_at = ? WHERE id = ?",
            (True, iso(e.timestamp), str(e.originator_id)),
        )

    @on(User.ProfileUpdated)
    def _profile(self, cur: Cursor, e: User.ProfileUpdated) -> None:
        cur.execute(
            "UPDATE users SET full_name = ?, bio = ?, updated_at = ? WHERE id = ?",
            (e.full_name, e.bio, iso(e.timestamp), str(e.originator_id)),
        )

    @on(User.EmailAdded)
    def _email_added(self, cur: Cursor, e: User.EmailAdded) -> None:
        cur.execute(
            "INSERT INTO user_emails (id, user_id, email, is_primary, verified, created_at)"
            " VALUES (?,?,?,?,?,?)",
            (e.email_id, str(e.originator_id), e.email, False, False, iso(e.timestamp)),
        )

    @on(User.EmailVerified)
    def _email_verified(self, cur: Cursor, e: User.EmailVerified) -> None:
        cur.execute("UPDATE user_emails SET verified = ? WHERE id = ?", (True, e.email_id))

    @on(User.Deleted)
    def _deleted(self, cur: Cursor, e: User.Deleted) -> None:
        cur.execute(
            "UPDATE users SET status = 'deleted', updated_at = ? WHERE id = ?",
            (iso(e.timestamp), str(e.originator_id)),
        )


def _user(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "is_admin": bool(row["is_admin"])}


def list_users(
    db: Reader, *, status: str | None = None, after: str = "", amount: int = 100
) -> list[dict[str, Any]]:
    """Users ordered by username (keyset pagination on the username)."""
    sql = "SELECT * FROM users WHERE username > ?"
    params: list[Any] = [after]
    if status:
        sql += " AND status = ?"
        params.append(status)
    else:
        sql += " AND status <> 'deleted'"
    sql += " ORDER BY username LIMIT ?"
    params.append(amount)
    return [_user(r) for r in db.query(sql, params)]


def search_users(db: Reader, prefix: str, *, amount: int = 20) -> list[dict[str, Any]]:
    """Active users whose username starts with `prefix`."""
    upper = prefix + "\uffff"
    return db.query(
        "SELECT username, full_name FROM users WHERE status = 'active'"
        " AND username >= ? AND username < ? ORDER BY username LIMIT ?",
        (prefix, upper, amount),
    )


def get_users(db: Reader, user_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Users by id (missing ids are absent from the answer)."""
    if not user_ids:
        return {}
    marks = ",".join("?" * len(user_ids))
    return {
        r["id"]: _user(r)
        for r in db.query(
            f"SELECT * FROM users WHERE id IN ({marks})",
            user_ids,
        )
    }


def list_emails(db: Reader, user_id: str) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT * FROM user_emails WHERE user_id = ? ORDER BY is_primary DESC, created_at, id",
        (user_id,),
    )
    return [
        {**r, "is_primary": bool(r["is_primary"]), "verified": bool(r["verified"])} for r in rows
    ]
