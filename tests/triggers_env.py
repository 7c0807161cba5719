"""Test helpers for sandbox triggers: a container whose launcher keeps launches in memory,
trigger bodies, and waiting for runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import infra.contexts
from infra.bootstrap import Container, bootstrap
from infra.contexts import Context, triggers
from infra.settings import Settings
from infra.triggers.launcher import MemoryLauncher
from tests.catalog_helpers import Repo
from tests.conftest import FAST_HASHER


def contexts_with(launcher: Any, **kw: Any) -> list[Context]:
    """The default registry, the triggers context launching through `launcher`."""
    return [
        partial(triggers.build, launcher=launcher, **kw) if build is triggers.build else build
        for build in infra.contexts.CONTEXTS
    ]


def triggered_container(settings: Settings, launcher: Any, **kw: Any) -> Container:
    return bootstrap(settings, hasher=FAST_HASHER, contexts=contexts_with(launcher, **kw))


def trigger_body(
    name: str,
    conditions: Sequence[dict[str, Any]] = ({"type": "prefix", "prefix": "datasets/"},),
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "conditions": list(conditions),
        "sandbox_config": {"image": "busybox:latest", "command": ["true"]},
        **extra,
    }


def create_trigger(repo: Repo, body: dict[str, Any]) -> dict[str, Any]:
    response = repo.http.post(f"{repo.base}/sandbox-triggers", json=body, headers=repo.auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def runs(repo: Repo, trigger_id: str, **params: Any) -> list[dict[str, Any]]:
    response = repo.http.get(
        f"{repo.base}/sandbox-triggers/{trigger_id}/runs", params=params, headers=repo.auth
    )
    assert response.status_code == 200, response.text
    return response.json()["results"]  # type: ignore[no-any-return]


def wait_until(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def settled_runs(
    repo: Repo, trigger_id: str, count: int, timeout: float = 15.0
) -> list[dict[str, Any]]:
    """The trigger's runs once `count` of them exist and none is pending."""

    def done() -> list[dict[str, Any]] | None:
        found = runs(repo, trigger_id)
        if len(found) >= count and all(r["status"] != "pending" for r in found):
            return found
        return None

    return wait_until(done, timeout, f"{count} settled runs")  # type: ignore[no-any-return]


def drain(container: Container, timeout: float = 15.0) -> None:
    """Wait until this process's evaluation projector has queued every commit so far and
    every evaluation job is done."""
    head = container.catalog.recorder.max_notification_id() or 0
    runner = container.projections.runners["trigger-evaluation"]

    def empty() -> bool:
        if runner.positions.get("catalog", 0) < head:
            return False
        row = container.db.query_one(
            "SELECT COUNT(*) AS n FROM process_jobs WHERE process = 'trigger-evaluation'"
            " AND done_at IS NULL"
        )
        return row is not None and int(row["n"]) == 0

    wait_until(empty, timeout, "the evaluation queue to drain")


__all__ = ["MemoryLauncher"]
