"""The periodic garbage collector (one active instance per deployment)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from infra.processes.loop import WorkerLoop
from infra.projections.locks import InstanceLock

log = structlog.get_logger("tilde.gc")


class GcWorker:
    """Runs `collect()` every `interval` seconds while it holds the GC lock."""

    def __init__(self, collect: Callable[[], Any], lock: InstanceLock, interval: float) -> None:
        self.collect = collect
        self.lock = lock
        self.interval = interval
        # A failed collection waits for the next interval (max_backoff), as a slow one does.
        self.loop = WorkerLoop(
            "gc", self._collect, lock=lock, idle=interval, standby=interval, wait_first=True,
            max_backoff=interval,
        )  # fmt: skip

    def start(self) -> None:
        if self.interval <= 0:
            return
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop(timeout=30)
        self.lock.release()

    def _collect(self) -> bool:
        report = self.collect()
        log.info("gc_done", **vars(report))
        return False
