"""PostgreSQL NOTIFY between containers: payloads name the sender and the event types, so a
container ignores its own appends and wakes only the projectors interested in others'."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from infra.bootstrap import bootstrap
from infra.eventstore.postgres import notify_payload, parse_notify_payload
from tests import services
from tests.conftest import FAST_HASHER, create_user, make_settings


def test_payloads_round_trip_and_degrade_to_any_topic() -> None:
    payload = notify_payload("abc", ["b:T.Two", "a:T.One", "b:T.Two"])
    assert payload == "abc\ta:T.One,b:T.Two"
    assert parse_notify_payload(payload) == ("abc", frozenset({"a:T.One", "b:T.Two"}))
    huge = notify_payload("abc", [f"module:Event{i}" for i in range(2_000)])
    assert parse_notify_payload(huge) == ("abc", None)
    assert parse_notify_payload("") == ("", None)  # the library's bare NOTIFY


def test_a_container_hears_others_appends_with_their_topics_and_not_its_own(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, "postgres")
    a = bootstrap(settings, hasher=FAST_HASHER)
    b = bootstrap(settings, hasher=FAST_HASHER)
    heard: list[tuple[str, frozenset[str] | None]] = []
    got = threading.Event()
    assert a.listener is not None
    forward = a.listener.on_notify

    def record(app: str, topics: frozenset[str] | None) -> None:
        heard.append((app, topics))
        got.set()
        forward(app, topics)

    a.listener.on_notify = record
    a.start_listening()
    try:
        time.sleep(0.3)  # LISTEN is in place
        create_user(a)  # a's own appends: not heard
        create_user(b)
        assert got.wait(5), "b's append never reached a"
        time.sleep(0.3)
        assert {app for app, _ in heard} == {"identity"}
        topics = set().union(*(t or {"*"} for _, t in heard))
        assert "domain.identity.user:User.SignedUp" in topics, topics
        # Only b's appends: a signup and an approval, one NOTIFY each.
        assert len(heard) == 2, heard
    finally:
        a.close()
        b.close()
        services.drop_database(settings.database_url)
