"""SandboxJanitor: removes engine resources of sandboxes nobody owns any more."""

from __future__ import annotations

import threading

import structlog

from application.sandboxes.app import SandboxesApplication
from application.sandboxes.ports import ContainerRuntime

log = structlog.get_logger("tilde.sandboxes")


class SandboxJanitor:
    """Every `interval` seconds (and once at start): labelled containers, volumes and networks
    of this installation whose sandbox has finished, or does not exist, are removed. A live
    sandbox's resources are left alone: its worker (or the one re-attaching after it) owns them."""

    def __init__(
        self, runtime: ContainerRuntime, app: SandboxesApplication, interval: float
    ) -> None:
        self.runtime = runtime
        self.app = app
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> int:
        """Remove what nobody owns; how many sandboxes' resources were removed."""
        removed = 0
        for sandbox_id in self.runtime.owned():
            sandbox = self.app.find_sandbox(sandbox_id)
            if sandbox is not None and not sandbox.is_terminal:
                continue
            handle = self.runtime.find(sandbox_id)
            if handle is not None:
                self.runtime.remove(handle)
                removed += 1
                log.info("sandbox_resources_removed", sandbox=sandbox_id)
        return removed

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sandbox-janitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while True:
            try:
                self.sweep()
            except Exception:  # the engine may be down: try again next period
                log.warning("sandbox_janitor_failed", exc_info=True)
            if self.interval <= 0 or self._stop.wait(self.interval):
                return
