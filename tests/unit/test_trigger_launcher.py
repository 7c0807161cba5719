"""ServiceLauncher: how a trigger run asks the sandboxes service for its sandbox."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest

from application.triggers.ports import LaunchRefused, LaunchRequest
from domain.shared.errors import Forbidden
from infra.triggers.launcher import ServiceLauncher

SANDBOX = "2bd58896-538b-54ac-815d-fbceb4cb7d6d"


def request(**overrides: Any) -> LaunchRequest:
    values: dict[str, Any] = {
        "sandbox_id": SANDBOX, "organization_id": "org-1", "repository_id": "repo-1",
        "repository_name": "data", "trigger_id": "t-1", "trigger_name": "etl", "run_id": "r-1",
        "commit_id": "c" * 64, "commit_seq": 7, "principal_type": "agent",
        "principal_id": "a-1", "creator_type": "user", "creator_id": "u-1",
        "run_as": {"type": "agent", "id": "a-1"}, "image": "busybox", "command": ["true"],
        "mountpoint": "/sandbox", "path_prefix": "", "timeout_seconds": None,
        "env_vars": {"A": "1"}, "trigger_env": {"TILDE_TRIGGER_ID": "t-1"},
    }  # fmt: skip
    return LaunchRequest(**(values | overrides))


class FakeSandboxes:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.error = error

    def create(self, org: str, repo: str, body: dict[str, Any], principal: Any, **kw: Any) -> Any:
        self.calls.append((org, repo, body, principal, kw))
        if self.error:
            raise self.error
        return SimpleNamespace(value=SimpleNamespace(id=kw["sandbox_id"]))


def test_the_creator_asks_with_run_as_and_the_derived_id() -> None:
    service = FakeSandboxes()
    assert ServiceLauncher({"sandboxes": service}).launch(request()) == SANDBOX
    [(org, repo, body, principal, kw)] = service.calls
    assert (org, repo) == ("org-1", "data")
    assert (principal.type, principal.id) == ("user", "u-1")
    assert body["run_as"] == {"type": "agent", "id": "a-1"} and body["mode"] == "one-shot"
    assert body["env_vars"] == {"TILDE_TRIGGER_ID": "t-1", "A": "1"}
    assert "timeout_seconds" not in body
    assert kw["sandbox_id"] == UUID(SANDBOX)
    assert kw["trigger"] == {
        "id": "t-1",
        "name": "etl",
        "commit_id": "c" * 64,
        "commit_seq": "7",  # the tree mounted is the firing commit's
        "conditions": "[]",  # the runner streams TILDE_TRIGGER_CHANGES from them
    }


def test_refusals_fail_the_run_and_no_service_is_a_refusal_too() -> None:
    refused = ServiceLauncher({"sandboxes": FakeSandboxes(Forbidden("may not"))})
    with pytest.raises(LaunchRefused, match="may not"):
        refused.launch(request())
    with pytest.raises(LaunchRefused, match="not available"):
        ServiceLauncher({}).launch(request())
    with pytest.raises(RuntimeError):  # anything else: retried by the job queue
        ServiceLauncher({"sandboxes": FakeSandboxes(RuntimeError("engine busy"))}).launch(request())


def test_a_launch_for_trigger_method_gets_the_whole_request() -> None:
    seen: list[LaunchRequest] = []

    def launch_for_trigger(r: LaunchRequest) -> str:
        seen.append(r)
        return r.sandbox_id

    service = SimpleNamespace(launch_for_trigger=launch_for_trigger)
    assert ServiceLauncher({"sandboxes": service}).launch(request()) == SANDBOX
    assert seen[0].commit_seq == 7
