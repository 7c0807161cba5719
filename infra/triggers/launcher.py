"""Sandbox launchers: the sandboxes service (the real one), and one that keeps launches in
memory (tests)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from application.principal import Principal
from application.triggers.ports import LaunchRefused, LaunchRequest
from domain.shared.errors import Forbidden, Invalid, NotFound

# A method the sandboxes service may offer for triggered sandboxes, taking the whole
# `LaunchRequest` (mount at `commit_id`, the TILDE_TRIGGER_CHANGES file); preferred if present.
LAUNCH_METHOD = "launch_for_trigger"


class ServiceLauncher:
    """Launches through `services["sandboxes"]`, looked up at launch time (the sandboxes
    context may be built after this one, or not at all: then every run fails, saying so).

    Without `launch_for_trigger`, it calls the service's `create(org, repo, body, principal,
    sandbox_id=…, trigger=…)`: the trigger's creator asks, `run_as` in the body, the caller's
    sandbox id makes it idempotent. A refusal (bad config, a principal that may not, a
    missing repository) fails the run; anything else (503: no engine now) is retried."""

    def __init__(self, services: Mapping[str, Any]) -> None:
        self.services = services

    def launch(self, request: LaunchRequest) -> str:
        service = self.services.get("sandboxes")
        launch = getattr(service, LAUNCH_METHOD, None)
        if launch is not None:
            return str(launch(request))
        create = getattr(service, "create", None)
        if create is None:
            raise LaunchRefused("sandbox execution is not available on this server")
        body: dict[str, Any] = {
            "image": request.image,
            "command": list(request.command) or None,
            "mountpoint": request.mountpoint,
            "path_prefix": request.path_prefix,
            "env_vars": {**request.trigger_env, **request.env_vars},
            "mode": "one-shot",
        }
        if request.timeout_seconds is not None:
            body["timeout_seconds"] = request.timeout_seconds
        if request.run_as:
            body["run_as"] = dict(request.run_as)
        creator = Principal(
            type=request.creator_type,
            id=request.creator_id,
            name=f"trigger {request.trigger_name}",
            via="trigger",
            organization_id=request.organization_id,
        )
        trigger = {
            "id": request.trigger_id,
            "name": request.trigger_name,
            "commit_id": request.commit_id,
            "commit_seq": str(request.commit_seq),
            "conditions": json.dumps(list(request.conditions)),
        }
        try:
            result = create(
                request.organization_id,
                request.repository_name,
                {k: v for k, v in body.items() if v is not None},
                creator,
                sandbox_id=UUID(request.sandbox_id),
                trigger=trigger,
            )
        except (Invalid, Forbidden, NotFound) as e:
            raise LaunchRefused(e.message) from None
        return str(getattr(result, "value", result).id)


class MemoryLauncher:
    """Keeps every launch request by sandbox id (a second launch of one id is the same
    sandbox); `calls` counts every call, duplicates included."""

    def __init__(self, refuse: str = "") -> None:
        self.refuse = refuse
        self.sandboxes: dict[str, LaunchRequest] = {}
        self.changes: dict[str, list[bytes]] = {}
        self.calls = 0
        self._lock = threading.Lock()

    def launch(self, request: LaunchRequest) -> str:
        with self._lock:
            self.calls += 1
            if self.refuse:
                raise LaunchRefused(self.refuse)
            if request.sandbox_id not in self.sandboxes:
                self.sandboxes[request.sandbox_id] = request
                self.changes[request.sandbox_id] = list(request.changes_ndjson())
        return request.sandbox_id
