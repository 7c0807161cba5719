"""A run whose worker died (kill -9: its lease lapsed, the sandbox stayed claimed): the next
run re-attaches to the surviving container and resumes its log where it stopped, or ends the
sandbox as `failed/sandbox_lost` when the container is gone; a finished sandbox is left alone.
Runner-level, both backends, in-memory engine adapters."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from application.principal import Principal
from application.sandboxes.app import SandboxesApplication
from application.sandboxes.network_services import NETWORK_SERVICES
from application.sandboxes.ports import Handle, SandboxNetwork
from application.sandboxes.runner import RunnerConfig, SandboxRunner
from application.sandboxes.sessions import CatalogSessions
from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from tests.conftest import FAST_HASHER, create_user
from tests.sandbox_fakes import LIMITS, Fakes


class World:
    def __init__(self, container: Container, fakes: Fakes) -> None:
        self.container, self.fakes = container, fakes
        self.app = container.service("sandboxes", SandboxesApplication)
        self.runner: SandboxRunner = container.services["sandbox_worker"].runner
        user = create_user(container)
        self.user = Principal("user", user["id"], user["username"], "bearer")
        org = container.organizations.create_organization(
            name=f"o-{user['username']}", display_name="o", principal=self.user
        )
        self.org_id = str(org.value.id)
        container.wait_for(org.written)
        container.catalog.create_repository(
            self.org_id, name="data", settings={}, principal=self.user
        )

    def create(self, command: list[str]) -> str:
        result = self.app.create(
            self.org_id, "data", {"image": "busybox", "command": command}, self.user
        )
        return str(result.value.id)

    def died_while_running(self, command: list[str]) -> str:
        """What a killed worker leaves: claimed, prepared, started, the container running."""
        sandbox_id = self.create(command)
        sandbox = self.app.claim(sandbox_id, "dead-worker")
        handle = self.runner._prepare(sandbox, self.fakes.trees.root)
        self.fakes.runtime.start(handle)
        self.app.transition(sandbox_id, lambda s: s.start())
        return sandbox_id

    def logged(self, sandbox_id: str) -> bytes:
        chunks, _ = self.container.services["sandbox_logs"].read(sandbox_id, 0)
        return b"".join(c for _, c in chunks)


@pytest.fixture
def world(backend: Settings) -> Iterator[World]:
    backend.sandbox_max_concurrent = 0  # no worker loop: the test runs the runner itself
    fakes = Fakes()
    container = bootstrap(backend, hasher=FAST_HASHER, contexts=fakes.contexts())
    container.services["sandbox_worker"] = _runner_only(container, fakes)
    try:
        yield World(container, fakes)
    finally:
        container.close()


def _runner_only(container: Container, fakes: Fakes) -> Any:
    class Holder:
        runner = SandboxRunner(
            container.service("sandboxes", SandboxesApplication),
            fakes.runtime,
            fakes.trees,
            lambda repo, commit, prefix: iter(()),
            fakes.collector,
            fakes.publisher,
            CatalogSessions(container.catalog, "http://x", lambda org_id: "org"),
            container.services["sandbox_logs"],
            RunnerConfig(limits=LIMITS),
        )

    return Holder()


def test_a_new_worker_reattaches_to_the_running_container_and_commits_once(world: World) -> None:
    sandbox_id = world.died_while_running(["echo before", "sleep 1", "echo after", "write r.txt x"])
    time.sleep(0.3)
    world.container.services["sandbox_logs"].append(sandbox_id, 1, b"before\n")
    started = len(world.fakes.runtime.started)
    world.runner.run(sandbox_id, "new-worker")
    sandbox = world.app.sandbox(sandbox_id)
    assert (sandbox.status, sandbox.status_reason) == ("done", "committed")
    assert sandbox.attempts == 2 and sandbox.worker == "new-worker"
    assert len(world.fakes.runtime.started) == started  # re-attached, not started again
    assert world.logged(sandbox_id) == b"before\nafter\n"  # resumed, no byte twice
    assert [p[0] for p in world.fakes.publisher.published] == [sandbox_id]


def test_a_vanished_container_ends_the_sandbox_as_lost(world: World) -> None:
    sandbox_id = world.died_while_running(["sleep 30"])
    world.fakes.runtime.remove(Handle(sandbox_id, "fake", "", "", ""))
    world.runner.run(sandbox_id, "new-worker")
    sandbox = world.app.sandbox(sandbox_id)
    assert (sandbox.status, sandbox.status_reason) == ("failed", "sandbox_lost")
    assert world.fakes.publisher.published == []


def test_a_sandbox_finished_meanwhile_is_left_alone(world: World) -> None:
    sandbox_id = world.create(["echo x"])
    world.app.finish(sandbox_id, "failed", "internal_error", error_message="by hand")
    world.runner.run(sandbox_id, "w")
    assert world.app.sandbox(sandbox_id).status_reason == "internal_error"
    assert world.fakes.runtime.started == []


class Recorder:
    """A network service that records what the runner asked of it."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.calls: list[tuple[str, str, bool]] = []

    def environment(self, sandbox_id: str, network: SandboxNetwork) -> dict[str, str]:
        return {"HTTP_PROXY": f"http://{network.gateway}:3128", "SHOUT": "from-service"}

    def open(self, sandbox_id: str, network: SandboxNetwork) -> None:
        started = sandbox_id in self.runtime.started
        self.calls.append(("open", network.gateway, started))

    def close(self, sandbox_id: str) -> None:
        self.calls.append(("close", sandbox_id, False))


def test_network_services_set_variables_open_before_the_start_and_on_reattach_close_at_the_end(
    world: World,
) -> None:
    recorder = Recorder(world.fakes.runtime)
    world.runner.config = RunnerConfig(limits=LIMITS, services={NETWORK_SERVICES: [recorder]})
    sandbox_id = world.app.create(
        world.org_id,
        "data",
        {"image": "busybox", "command": ["env HTTP_PROXY", "env SHOUT"],
         "env_vars": {"SHOUT": "from-request"}},
        world.user,
    ).value.id  # fmt: skip
    world.runner.run(str(sandbox_id), "w")
    assert (
        world.logged(str(sandbox_id)) == b"HTTP_PROXY=http://192.0.2.1:3128\nSHOUT=from-service\n"
    )
    assert recorder.calls == [("open", "192.0.2.1", False), ("close", str(sandbox_id), False)]

    recorder.calls.clear()
    again = world.died_while_running(["sleep 0.2"])
    world.runner.run(again, "new-worker")
    assert recorder.calls == [("open", "192.0.2.1", True), ("close", again, False)]
