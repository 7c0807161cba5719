"""`logs/stdout` and `combined` against a live server with the real log store and a sandboxes
service fake: live streaming (bytes before the end), the end of the stream when the log closes
or the sandbox ends, reads from another server on the same database, 404 and 410."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from litestar.testing import TestClient

from infra.bootstrap import Container, bootstrap
from infra.sandboxes.logs import SqlLogStore
from interfaces.http.app import create_app
from tests.conftest import FAST_HASHER, LiveServer
from tests.integration.test_sandbox_exec_ws import FakeSandbox, FakeSandboxes
from tests.orgs import Person, create_org, person


@dataclass
class World:
    server: LiveServer
    owner: Person
    org: str
    store: SqlLogStore
    sandboxes: FakeSandboxes

    def url(self, sandbox_id: str, tail: str = "logs/stdout") -> str:
        return (
            f"{self.server.url}/api/v1/organizations/{self.org}/repositories/data"
            f"/sandboxes/{sandbox_id}/{tail}"
        )

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.owner.token}"}


def wire(container: Container, sandboxes: FakeSandboxes, retention: float = 3600) -> SqlLogStore:
    store = SqlLogStore(container.db, retention_seconds=retention)
    container.services["sandbox_logs"] = store
    container.services["sandboxes"] = sandboxes
    return store


@pytest.fixture
def world(container: Container) -> Iterator[World]:
    sandboxes = FakeSandboxes()
    store = wire(container, sandboxes)
    with LiveServer(container) as server:
        owner = person(container)
        with TestClient(create_app(container, run_background=False)) as client:
            org = create_org(client, owner)["name"]
        yield World(server, owner, org, store, sandboxes)


def test_output_streams_live_and_the_stream_ends_when_the_log_closes(world: World) -> None:
    world.sandboxes.boxes["s1"] = FakeSandbox("s1", "/sandbox")
    world.store.append("s1", 1, b"first line\n")
    received: list[tuple[float, bytes]] = []
    with httpx.stream("GET", world.url("s1"), headers=world.auth, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert "content-length" not in response.headers  # chunked
        closer = threading.Timer(
            1.0, lambda: (world.store.append("s1", 2, b"\xff raw"), world.store.close("s1"))
        )
        closer.start()
        for data in response.iter_raw():
            received.append((time.monotonic(), data))
    ended = time.monotonic()
    body = b"".join(d for _, d in received)
    assert body == b"first line\n\xff raw"
    # The first bytes came while the sandbox still ran, a second before the end.
    assert received[0][1].startswith(b"first line") and ended - received[0][0] >= 0.8


def test_the_stream_ends_when_the_sandbox_ends_without_closing_its_log(world: World) -> None:
    box = FakeSandbox("lost", "/sandbox")
    world.sandboxes.boxes["lost"] = box
    world.store.append("lost", 1, b"partial")
    threading.Timer(0.5, lambda: setattr(box, "status", "failed")).start()
    started = time.monotonic()
    response = httpx.get(world.url("lost"), headers=world.auth, timeout=30)
    assert response.content == b"partial" and time.monotonic() - started < 15


def test_a_finished_log_reads_whole_from_another_server_and_through_combined(
    world: World, container: Container
) -> None:
    world.sandboxes.boxes["s2"] = FakeSandbox("s2", "/sandbox", status="done")
    for seq in range(1, 301):
        world.store.append("s2", seq, f"line {seq}\n".encode())
    world.store.close("s2")
    expected = b"".join(f"line {seq}\n".encode() for seq in range(1, 301))
    other = bootstrap(container.settings.model_copy(update={"port": 0}), hasher=FAST_HASHER)
    try:
        wire(other, world.sandboxes)
        with TestClient(create_app(other, run_background=False)) as client:
            path = world.url("s2").removeprefix(world.server.url)
            assert client.get(path, headers=world.auth).content == expected
            combined = world.url("s2", "combined").removeprefix(world.server.url)
            assert client.get(combined, headers=world.auth).content == expected
    finally:
        other.close()


def test_unknown_sandbox_is_404_and_expired_logs_are_410(world: World) -> None:
    response = httpx.get(world.url("nope"), headers=world.auth)
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    world.sandboxes.boxes["old"] = FakeSandbox("old", "/sandbox", status="done")
    world.store.append("old", 1, b"bye")
    world.store.close("old")
    world.store.expire("old")
    response = httpx.get(world.url("old"), headers=world.auth)
    assert response.status_code == 410
    assert response.json()["message"] == "logs no longer available"
