"""Process managers (the email outbox): writes never wait on them; a poison event or a failing
delivery is retried with backoff, then parked and reported, and holds back its own key only."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner

from application.ports import EmailMessage
from domain.identity.user import User
from domain.shared.values import Actor
from infra.bootstrap import Container
from infra.settings import Settings
from interfaces.cli.main import cli
from projections.outbox import OutboxView
from tests.builders import signup_body


def outbox(container: Container) -> OutboxView:
    view = container.projections.views["outbox"]
    assert isinstance(view, OutboxView)
    return view


def failure_gauge(container: Container) -> float | None:
    return container.metrics.registry.get_sample_value(
        "tilde_process_failures", {"process": "outbox"}
    )


def send_all(container: Container) -> list[str]:
    """Message ids delivered until nothing more is due."""
    sent: list[str] = []
    original = container.outbox.mailer.send

    def record(message: EmailMessage) -> None:
        original(message)
        sent.append(message.message_id)

    container.outbox.mailer.send = record  # type: ignore[method-assign]
    try:
        while container.outbox.send_due():
            pass
    finally:
        container.outbox.mailer.send = original  # type: ignore[method-assign]
    return sent


def jobs_of(container: Container, key: str) -> list[dict[str, Any]]:
    return container.db.query(
        "SELECT id, kind, done_at, parked FROM process_jobs WHERE key = ? ORDER BY position, idx",
        (key,),
    )


def test_a_write_does_not_wait_for_process_managers(container: Container) -> None:
    view = outbox(container)
    compose = view.process.compose
    gate = threading.Event()

    def slow(event: Any) -> list[EmailMessage]:
        gate.wait(20)  # a process manager that takes its time (trigger evaluation, say)
        return compose(event)

    view.process.compose = slow
    container.start_background()
    try:
        body = signup_body()
        result = container.identity.signup(**body)
        started = time.monotonic()
        assert container.wait_for(result.written, timeout=5.0)
        assert time.monotonic() - started < 1.0
        assert container.db.query("SELECT id FROM users WHERE username = ?", (body["username"],))
        assert not container.db.query("SELECT id FROM outbox WHERE to_addr = ?", (body["email"],))
        assert [r.view.name for r in container.projections.interested(result.written[0])]
        assert "outbox" not in {
            r.view.name for r in container.projections.interested(result.written[0])
        }
    finally:
        gate.set()
    deadline = time.monotonic() + 10
    while not container.db.query("SELECT id FROM outbox WHERE to_addr = ?", (body["email"],)):
        assert time.monotonic() < deadline, "the outbox never caught up"
        time.sleep(0.02)


def poison_signups_of(user_ids: set[str], compose: Callable[[Any], list[EmailMessage]]) -> Any:
    def composing(event: Any) -> list[EmailMessage]:
        if isinstance(event, User.SignedUp) and str(event.originator_id) in user_ids:
            raise RuntimeError("cannot compose this one")
        return compose(event)

    return composing


def test_a_poison_event_is_retried_then_parked_and_holds_back_only_its_key(
    container: Container,
) -> None:
    view = outbox(container)
    compose = view.process.compose
    poisoned: set[str] = set()
    view.process.compose = poison_signups_of(poisoned, compose)
    bad, good = signup_body(), signup_body()
    bad_id = str(container.identity.signup(**bad).value.id)
    poisoned.add(bad_id)
    container.identity.approve(bad["username"], Actor.operator())
    container.identity.signup(**good)
    container.projections.catch_up()  # the poison event does not stall the fold

    [failure] = container.projections.failures()
    assert failure["key"] == bad_id and failure["kind"] == "event" and failure["attempts"] == 1
    assert "cannot compose this one" in failure["last_error"]
    # The other user's mail goes out; the bad user's approval mail waits behind its signup.
    sent = send_all(container)
    assert len(sent) == 1
    assert [j["kind"] for j in jobs_of(container, bad_id)] == ["event", "email"]
    assert not any(j["done_at"] for j in jobs_of(container, bad_id))

    runner = container.projections.runners["outbox"]
    assert runner.redo_queue is not None
    runner.redo_queue.base_delay = 0.0
    runner.redo_queue.max_attempts = 3
    for _ in range(5):
        runner.redo_due()
    [failure] = container.projections.failures()
    assert failure["attempts"] == 3 and failure["parked"]
    assert failure_gauge(container) == 1
    assert runner.redo_due() == 0 and send_all(container) == []  # parked stays parked

    view.process.compose = compose  # the bug is fixed; the operator retries
    assert container.projections.retry(everything=True) == 1
    assert runner.redo_due() == 1
    sent = send_all(container)
    kinds = [
        json.loads(r["headers"])["X-Tilde-Kind"]
        for r in container.db.query(
            "SELECT headers FROM outbox WHERE to_addr = ? ORDER BY sent_at", (bad["email"],)
        )
    ]
    assert len(sent) == 2 and kinds == ["signup", "approved"]
    assert container.projections.failures() == []
    assert failure_gauge(container) == 0


def test_a_failing_delivery_backs_off_then_parks_and_the_cli_lists_and_retries_it(
    container: Container, backend: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad, good = signup_body(), signup_body()
    container.identity.signup(**bad)
    container.projections.catch_up()
    send = container.outbox.mailer.send

    def bouncing(message: EmailMessage) -> None:
        if message.to == bad["email"]:
            raise ConnectionError("mail server says no")
        send(message)

    container.outbox.mailer.send = bouncing  # type: ignore[method-assign]
    assert container.outbox.send_due() == 0
    [failure] = container.projections.failures()
    assert failure["attempts"] == 1 and not failure["parked"]
    assert failure["next_attempt_at"] > container.now()  # backoff: not due again yet
    container.identity.signup(**good)  # another key is not held back
    container.projections.catch_up()
    assert container.outbox.send_due() == 1
    queue = container.outbox.queue
    queue.base_delay, queue.max_attempts = 0.0, 3
    while container.outbox.send_due() == 0 and not container.projections.failures()[0]["parked"]:
        pass
    [failure] = container.projections.failures()
    assert failure["parked"] and failure["attempts"] == 3

    for key, value in backend.to_environment().items():
        monkeypatch.setenv(key, value)
    listed = CliRunner().invoke(cli, ["projections", "failures", "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["id"] == failure["id"] and row["parked"] and "says no" in row["last_error"]
    retried = CliRunner().invoke(cli, ["projections", "retry", failure["id"]])
    assert retried.exit_code == 0 and "1 job(s)" in retried.output, retried.output
    container.outbox.mailer.send = send  # type: ignore[method-assign]
    assert container.outbox.send_due() == 1
    assert CliRunner().invoke(cli, ["projections", "failures"]).output.strip() == "no failures"


def test_the_version_1_outbox_table_moves_into_the_queue_without_resending(
    container: Container,
) -> None:
    sent_to, owed_to = signup_body(), signup_body()
    for body in (sent_to, owed_to):
        container.identity.signup(**body)
    container.projections.catch_up()
    rows = container.db.query("SELECT * FROM outbox ORDER BY to_addr")
    # Put the data back the way version 1 kept it: a table of its own, one email sent.
    with container.db.transaction() as cur:
        cur.execute("DROP VIEW outbox")
        cur.execute("DELETE FROM process_jobs WHERE process = 'outbox'")
        cur.execute(
            "CREATE TABLE outbox (id TEXT PRIMARY KEY, to_addr TEXT NOT NULL,"
            " subject TEXT NOT NULL, body TEXT NOT NULL, headers TEXT NOT NULL,"
            " created_at TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt_at TEXT NOT NULL,"
            " last_error TEXT, sent_at TEXT)"
        )
        for r in rows:
            sent = r["to_addr"] == sent_to["email"]
            cur.execute(
                "INSERT INTO outbox VALUES (?,?,?,?,?,?,?,?,NULL,?)",
                (r["id"], r["to_addr"], r["subject"], r["body"], r["headers"], r["created_at"],
                 1 if sent else 0, r["next_attempt_at"], container.now() if sent else None),
            )  # fmt: skip
        cur.execute("UPDATE projection_versions SET version = 1 WHERE projection = 'outbox'")
    container.projections.ensure_schema()
    migrated = container.db.query(
        "SELECT id, to_addr, headers, sent_at FROM outbox ORDER BY to_addr"
    )
    assert [(r["id"], r["to_addr"], json.loads(r["headers"])) for r in migrated] == [
        (r["id"], r["to_addr"], json.loads(r["headers"])) for r in rows
    ]
    assert send_all(container) == [r["id"] for r in rows if r["to_addr"] == owed_to["email"]]
    container.projections.ensure_schema()  # a second start finds nothing left to move
    assert len(container.db.query("SELECT id FROM outbox")) == len(rows)


def test_a_process_manager_new_to_a_log_with_history_starts_at_its_head(
    container: Container,
) -> None:
    for _ in range(3):
        container.identity.signup(**signup_body())
    # As when a process manager is added to a deployment (or the views are lost): no record.
    with container.db.transaction() as cur:
        cur.execute("DELETE FROM process_jobs")
        cur.execute("DELETE FROM projection_versions WHERE projection = 'outbox'")
        cur.execute("DELETE FROM projection_tracking WHERE projection = 'outbox'")
    container.projections.ensure_schema()
    container.projections.catch_up()
    assert container.db.query("SELECT id FROM process_jobs") == []  # no mail for the past
    later = signup_body()
    container.identity.signup(**later)
    container.projections.catch_up()
    assert [r["to_addr"] for r in container.db.query("SELECT to_addr FROM outbox")] == [
        later["email"]
    ]
