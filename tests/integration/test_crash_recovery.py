"""kill -9 in the middle of a burst of writes loses no acknowledged write (both backends)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from projections.identity.api_keys import get_key
from projections.identity.users import get_users
from tests.builders import PASSWORD, signup_body
from tests.catalog_env import LoggedServer
from tests.conftest import FAST_HASHER, bearer
from tests.integration.test_projections import dump_views

WORKERS = 4


class AutoApprovingServer(LoggedServer):
    """The real server process, with signups active at once (no operator step); its output
    goes to a file so a failed (re)start says why."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "TILDE_AUTO_APPROVE_SIGNUPS": "true"}


@dataclass
class Acknowledged:
    """Writes the server answered 2xx to; only these must survive the crash."""

    signups: list[dict[str, Any]] = field(default_factory=list)
    keys: list[tuple[str, str, str]] = field(default_factory=list)  # (user id, key id, token)
    interrupted: int = 0  # workers whose request was cut off by the kill
    lock: threading.Lock = field(default_factory=threading.Lock)


def burst(url: str, acked: Acknowledged, stop: threading.Event) -> None:
    """Sign up and create a key, again and again, until the server stops answering."""
    with httpx.Client(base_url=url, timeout=15) as http:
        while not stop.is_set():
            body = signup_body()
            try:
                signed = http.post("/api/v1/auth/signup", json=body)
                if signed.status_code != 201:
                    continue
                with acked.lock:
                    acked.signups.append({**body, "id": signed.json()["id"]})
                created = http.post(
                    "/api/v1/auth/keys",
                    json={"name": "burst"},
                    auth=(body["username"], PASSWORD),
                )
                if created.status_code == 201:
                    key = created.json()
                    with acked.lock:
                        acked.keys.append((signed.json()["id"], key["id"], key["token"]))
            except httpx.HTTPError:  # the server was killed under us
                with acked.lock:
                    acked.interrupted += 1
                return


def wait_until_caught_up(settings: Settings, timeout: float = 60.0) -> list[dict[str, Any]]:
    container = bootstrap(settings, hasher=FAST_HASHER)
    try:
        deadline = time.monotonic() + timeout
        while True:
            status = container.projections.status()
            if all(row["lag"] == 0 for row in status):
                return status
            assert time.monotonic() < deadline, [r for r in status if r["lag"]]
            time.sleep(0.1)
    finally:
        container.close()


def check_acknowledged_writes(url: str, acked: Acknowledged) -> None:
    with httpx.Client(base_url=url, timeout=15) as http:
        for user in acked.signups:
            me = http.get("/api/v1/auth/me", auth=(user["username"], PASSWORD))
            assert me.status_code == 200, (user["username"], me.text)
            assert me.json()["user"]["id"] == user["id"]
        for user_id, key_id, token in acked.keys:
            me = http.get("/api/v1/auth/me", headers=bearer(token))
            assert me.status_code == 200, (key_id, me.text)
            assert me.json()["user"]["id"] == user_id


def check_views(container: Container, acked: Acknowledged) -> None:
    users = get_users(container.db, [u["id"] for u in acked.signups])
    assert set(users) == {u["id"] for u in acked.signups}
    assert all(users[u["id"]]["username"] == u["username"] for u in acked.signups)
    for user_id, key_id, _ in acked.keys:
        row = get_key(container.db, key_id)
        assert row is not None and row["owner_id"] == user_id and row["revoked_at"] is None


def test_acknowledged_writes_survive_a_kill_9_mid_burst(backend: Settings) -> None:
    server = AutoApprovingServer(backend).start()
    acked = Acknowledged()
    stop = threading.Event()
    threads = [
        threading.Thread(target=burst, args=(server.url, acked, stop), daemon=True)
        for _ in range(WORKERS)
    ]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acked.keys) < 12:  # well into the burst, with writes in flight
            assert time.monotonic() < deadline, "the burst made no progress"
            time.sleep(0.02)
        server.kill9()
        for thread in threads:
            thread.join(20)
        assert not any(t.is_alive() for t in threads)
        stop.set()
        assert len(acked.signups) >= len(acked.keys) >= 12
        assert acked.interrupted == WORKERS  # every worker was still writing at the kill

        server.start()
        check_acknowledged_writes(server.url, acked)
        # The restarted server keeps taking writes.
        stop.clear()
        after = Acknowledged()
        more = threading.Thread(target=burst, args=(server.url, after, stop), daemon=True)
        more.start()
        time.sleep(0.5)
        stop.set()
        more.join(20)
        assert after.signups, "no write succeeded after the restart"
        check_acknowledged_writes(server.url, after)
        status = wait_until_caught_up(backend)
        assert {row["projection"] for row in status} >= {"users", "api_keys", "outbox"}
    finally:
        stop.set()
        server.stop()

    container = bootstrap(backend, hasher=FAST_HASHER)
    try:
        check_views(container, acked)
        check_views(container, after)
        assert all(row["lag"] == 0 for row in container.projections.status())
        before = dump_views(container)
        assert len(before["users"]) >= len(acked.signups) + len(after.signups)
        container.projections.rebuild([])
        assert dump_views(container) == before
        # Every acknowledged signup's welcome email is queued exactly once.
        queued = container.db.query("SELECT to_addr FROM outbox")
        addresses = [r["to_addr"] for r in queued]
        for user in acked.signups + after.signups:
            assert addresses.count(user["email"]) == 1, user["email"]
    finally:
        container.close()
