"""PostgreSQL NOTIFY between containers: payloads name the sender and the event types, so a
container ignores its own appends and wakes only the projectors interested in others'."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg

from infra.bootstrap import bootstrap
from infra.eventstore.postgres import notify_payload, parse_notify_payload
from infra.projections.listener import PostgresNotifyListener
from infra.projections.runner import VIEWS_CHANNEL
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


def test_a_listener_hears_at_once_and_stops_at_once_however_long_its_idle_wait() -> None:
    """Notifications and stop() both end the wait on the connection: neither waits for the
    backstop timeout (an hour here; a container's close used to pay up to half a second)."""
    url = services.create_database()
    heard: list[str] = []
    got = threading.Event()
    connected = threading.Event()

    def on_view(name: str) -> None:
        heard.append(name)
        got.set()

    listener = PostgresNotifyListener(
        url, ["identity"], lambda app, topics: None, on_view, on_connect=connected.set,
        idle_wait=3600.0,
    )  # fmt: skip
    listener.start()
    try:
        assert connected.wait(10)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"NOTIFY {VIEWS_CHANNEL}, 'users'")
        assert got.wait(10), "the notification waited for the idle timeout"
        assert heard == ["users"]
        stopping = threading.Thread(target=listener.stop)
        stopping.start()
        stopping.join(10)
        assert not stopping.is_alive(), "stop() waited for the idle timeout"
        assert listener._thread is not None and not listener._thread.is_alive()
        listener.stop()  # twice is harmless
    finally:
        listener.stop()
        services.drop_database(url)
