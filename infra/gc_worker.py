"""The periodic garbage collector (one active instance per deployment)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import structlog

from infra.projections.locks import InstanceLock

log = structlog.get_logger("tilde.gc")


class GcWorker:
    """Runs `collect()` every `interval` seconds while it holds the GC lock."""

    def __init__(self, collect: Callable[[], Any], lock: InstanceLock, interval: float) -> None:
        self.collect = collect
        self.lock = lock
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="gc", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.lock.release()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.lock.try_acquire():
                continue
            try:
                report = self.collect()
                log.info("gc_done", **vars(report))
            except Exception:
                log.exception("gc_failed")
