"""What workers serve sandboxes on their networks while they run (the egress proxy, the
credentials endpoint): registered by other contexts as `NetworkService`s, opened when a run's
container is ready, closed exactly once when its outcome is known."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from application.sandboxes.ports import ContainerRuntime, Handle, NetworkService, SandboxNetwork

log = structlog.get_logger("tilde.sandboxes")

# Where other contexts register their `NetworkService`s, in `RunnerConfig.services`.
NETWORK_SERVICES = "sandbox_network_services"


class RunNetworkServices:
    """The network services of the runs in progress in one worker."""

    def __init__(
        self, services: Callable[[], Mapping[str, Any]], runtime: ContainerRuntime
    ) -> None:
        self.services, self.runtime = services, runtime
        # Sandboxes of the runs in progress whose services are already closed.
        self._closed: set[str] = set()
        self._closing = threading.Lock()

    def registered(self) -> list[NetworkService]:
        # Looked up per run: the contexts that register them are built after the runner.
        return list(self.services().get(NETWORK_SERVICES) or ())

    def environment(self, sandbox_id: str) -> Callable[[SandboxNetwork], Mapping[str, str]]:
        """The variables the services give the container, once its network is known."""

        def env(network: SandboxNetwork) -> Mapping[str, str]:
            merged: dict[str, str] = {}
            for service in self.registered():
                merged.update(service.environment(sandbox_id, network))
            return merged

        return env

    def open(self, handle: Handle) -> None:
        services = self.registered()
        if not services:
            return
        network = self.runtime.network(handle)
        if network is None:
            raise RuntimeError("the sandbox's network is gone")
        for service in services:
            service.open(handle.sandbox_id, network)

    def close(self, sandbox_id: str) -> None:
        """Once per run: as soon as its outcome is known, or when the run is cleaned up."""
        with self._closing:
            if sandbox_id in self._closed:
                return
            self._closed.add(sandbox_id)
        for service in self.registered():
            try:
                service.close(sandbox_id)
            except Exception:
                log.warning(
                    "sandbox_network_service_close_failed", sandbox=sandbox_id, exc_info=True
                )

    def forget(self, sandbox_id: str) -> None:
        """The run is over in this worker (a later claim opens the services again)."""
        with self._closing:
            self._closed.discard(sandbox_id)
