"""Sandbox launchers: the sandboxes service (the real one), and one that keeps launches in
memory (tests, servers without sandboxes)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from application.triggers.ports import LaunchRefused, LaunchRequest

# The method the sandboxes service offers for triggered sandboxes (idempotent per
# `request.sandbox_id`; the sandbox records trigger_id/trigger_name, mounts the tree at
# `request.commit_id`, gets `request.trigger_env` and the TILDE_TRIGGER_CHANGES file).
LAUNCH_METHOD = "launch_for_trigger"


class ServiceLauncher:
    """Launches through `services["sandboxes"]`, looked up at launch time (the sandboxes
    context may be built after this one, or not at all: then every run fails, saying so)."""

    def __init__(self, services: Mapping[str, Any]) -> None:
        self.services = services

    def launch(self, request: LaunchRequest) -> str:
        service = self.services.get("sandboxes")
        launch = getattr(service, LAUNCH_METHOD, None)
        if launch is None:
            raise LaunchRefused("sandbox execution is not available on this server")
        return str(launch(request))


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
