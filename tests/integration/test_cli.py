"""The operator's `tilde-server` commands against an embedded (SQLite) data directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from domain.shared.values import Actor
from infra.bootstrap import bootstrap
from interfaces.cli.main import cli
from tests.builders import PASSWORD, name, signup_body
from tests.conftest import FAST_HASHER, make_settings


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def run(*args: str, input: str | None = None, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def json_lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def sign_up(data_dir: Path, count: int, *, approve: int = 0) -> list[dict[str, Any]]:
    """Signups made through the application, as the API would (some approved)."""
    container = bootstrap(make_settings(data_dir.parent, "sqlite"), hasher=FAST_HASHER)
    try:
        bodies = []
        for i in range(count):
            body = signup_body()
            user = container.identity.signup(**body).value
            if i < approve:
                container.identity.approve(body["username"], Actor.operator())
            bodies.append({**body, "id": str(user.id)})
        return bodies
    finally:
        container.close()


def test_create_admin_reads_the_password_from_stdin(data_dir: Path) -> None:
    username = name("op")
    created = run(
        "users",
        "create-admin",
        "--data-dir",
        str(data_dir),
        "--username",
        username,
        "--email",
        f"{username}@example.com",
        "--password-stdin",
        input="an-operator-password\n",
    )
    assert f"operator {username} is ready (status active)" in created.stdout
    assert "an-operator-password" not in created.output
    listed = json_lines(run("users", "list", "--data-dir", str(data_dir), "--json"))
    assert [(u["username"], u["is_admin"], u["status"]) for u in listed] == [
        (username, True, "active")
    ]
    # Promoting an existing user is the same command.
    again = run(
        "users",
        "create-admin",
        "--data-dir",
        str(data_dir),
        "--username",
        username,
        "--email",
        f"{username}@example.com",
        "--password-stdin",
        input="ignored-password\n",
    )
    assert "is ready" in again.stdout


def test_users_list_shows_pending_signups_and_approve_activates_them(data_dir: Path) -> None:
    users = sign_up(data_dir, 5, approve=2)
    pending = sorted(u["username"] for u in users[2:])
    listed = json_lines(run("users", "list", "--data-dir", str(data_dir), "--pending", "--json"))
    assert [u["username"] for u in listed] == pending
    assert {u["status"] for u in listed} == {"pending"}
    assert {"id", "username", "email", "status", "is_admin", "created_at"} <= set(listed[0])

    everyone = run("users", "list", "--data-dir", str(data_dir)).stdout.splitlines()
    assert len(everyone) == 5
    assert all(any(u["username"] in line for line in everyone) for u in users)

    target = pending[0]
    approved = run("users", "approve", "--data-dir", str(data_dir), target)
    email = next(u["email"] for u in users if u["username"] == target)
    assert approved.stdout.strip() == f"approved {target} <{email}>"
    listed = json_lines(run("users", "list", "--data-dir", str(data_dir), "--pending", "--json"))
    assert [u["username"] for u in listed] == pending[1:]

    # By email works too; approving twice or an unknown user fails with a message.
    by_email = next(u for u in users if u["username"] == pending[1])
    assert (
        "approved" in run("users", "approve", "--data-dir", str(data_dir), by_email["email"]).stdout
    )
    twice = run("users", "approve", "--data-dir", str(data_dir), target, ok=False)
    assert twice.exit_code == 1 and "already active" in twice.output
    missing = run("users", "approve", "--data-dir", str(data_dir), name(), ok=False)
    assert missing.exit_code == 1 and "not found" in missing.output


def test_projections_status_and_rebuild(data_dir: Path) -> None:
    sign_up(data_dir, 4, approve=4)
    run("users", "list", "--data-dir", str(data_dir))  # settles the views
    status = json_lines(run("projections", "status", "--data-dir", str(data_dir), "--json"))
    by_name = {(r["projection"], r["application"]): r for r in status}
    assert {("users", "identity"), ("api_keys", "identity"), ("outbox", "identity")} <= set(by_name)
    assert by_name[("users", "identity")]["head"] > 0
    assert all(r["lag"] == 0 for r in status), status
    text = run("projections", "status", "--data-dir", str(data_dir)).stdout
    assert "users" in text and "lag=0" in text

    rebuilt = run("projections", "rebuild", "--data-dir", str(data_dir)).stdout
    assert "rebuilt users" in rebuilt and "rebuilt api_keys" in rebuilt
    assert "outbox" not in rebuilt
    one = run("projections", "rebuild", "--data-dir", str(data_dir), "users").stdout
    assert one.startswith("rebuilt users") and "api_keys" not in one
    after = json_lines(run("projections", "status", "--data-dir", str(data_dir), "--json"))
    assert all(r["lag"] == 0 for r in after)
    listed = json_lines(run("users", "list", "--data-dir", str(data_dir), "--json"))
    assert len(listed) == 4

    unknown = run("projections", "rebuild", "--data-dir", str(data_dir), "nope", ok=False)
    assert unknown.exit_code == 1 and "unknown projection" in unknown.output
    outbox = run("projections", "rebuild", "--data-dir", str(data_dir), "outbox", ok=False)
    assert outbox.exit_code == 1 and "cannot be rebuilt" in outbox.output


def test_events_tail_prints_the_newest_events_as_json_without_secrets(data_dir: Path) -> None:
    users = sign_up(data_dir, 7, approve=3)
    tail = run("events", "tail", "--data-dir", str(data_dir), "--type", "User.SignedUp", "-n", "5")
    records = json_lines(tail)
    assert len(records) == 5
    assert {r["type"] for r in records} == {"User.SignedUp"}
    # Newest first: the last five signups, in reverse order.
    assert [r["data"]["username"] for r in records] == [u["username"] for u in users[::-1][:5]]
    stamps = [r["timestamp"] for r in records]
    assert stamps == sorted(stamps, reverse=True)
    assert "$argon2" not in tail.output and PASSWORD not in tail.output
    assert records[0]["data"]["password_hash"] == "[redacted]"
    assert {"application", "notification_id", "stream_id", "version"} <= set(records[0])

    short = json_lines(run("events", "tail", "--data-dir", str(data_dir), "--type", "Approved"))
    assert len(short) == 3 and all(r["type"] == "User.Approved" for r in short)
    everything = json_lines(run("events", "tail", "--data-dir", str(data_dir), "-n", "1000"))
    ids = [r["notification_id"] for r in everything]
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids))


def test_events_show_prints_one_stream_newest_first(data_dir: Path) -> None:
    user = sign_up(data_dir, 2, approve=1)[0]
    shown = run("events", "show", "--data-dir", str(data_dir), user["id"])
    records = json_lines(shown)
    assert [r["type"] for r in records] == ["User.Approved", "User.SignedUp"]
    assert [r["version"] for r in records] == [2, 1]
    assert {r["stream_id"] for r in records} == {user["id"]}
    assert "$argon2" not in shown.output

    missing = run(
        "events",
        "show",
        "--data-dir",
        str(data_dir),
        "0" * 8 + "-0000-4000-8000-" + "0" * 12,
        ok=False,
    )
    assert missing.exit_code != 0 and "no stream" in missing.output
    bad = run("events", "show", "--data-dir", str(data_dir), "not-a-uuid", ok=False)
    assert bad.exit_code == 2 and "UUID" in bad.output
