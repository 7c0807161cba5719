"""WorkerLoop: the one background loop projectors, job workers and GC run on."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from infra.projections.locks import InstanceLock

log = structlog.get_logger("tilde.workers")


class WorkerLoop:
    """Calls `step` in a thread: again at once while it says more work is due, else after
    `idle` seconds or a `wake()`. With an exclusive `lock`, steps only while holding it
    (standby otherwise); a failing step is logged and retried with exponential backoff."""

    def __init__(
        self,
        name: str,
        step: Callable[[], bool],
        *,
        lock: InstanceLock | None = None,
        idle: float = 0.05,
        standby: float = 1.0,
        max_backoff: float = 5.0,
        wait_first: bool = False,
        on_active: Callable[[], None] | None = None,
        on_error: Callable[[], None] | None = None,
        on_idle: Callable[[], None] | None = None,
        expected: tuple[type[Exception], ...] = (),
    ) -> None:
        self.name = name
        self.step = step
        self.lock = lock
        self.idle = idle
        self.standby = standby
        self.max_backoff = max_backoff
        self.wait_first = wait_first  # periodic jobs (GC) run one interval after start
        self.on_active = on_active
        self.on_error = on_error
        self.on_idle = on_idle
        # Exceptions that mean "start the step over" (a lost race), not a failure.
        self.expected = expected
        self.active = False
        # Set once the first lock attempt after `start` is decided (active or standby), so a
        # caller can tell "not mine" from "not decided yet" (read-your-writes at start-up).
        self.settled = threading.Event()
        self.failures = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self.settled.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self.settled.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._stop.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        if self.wait_first and self._stop.wait(self.idle):
            return
        while not self._stop.is_set():
            if self.lock is not None and not self.lock.try_acquire():
                self.active = False
                self.settled.set()
                self._stop.wait(self.standby)  # another instance holds it
                continue
            self._wake.clear()
            try:
                if not self.active:
                    if self.on_active is not None:
                        self.on_active()
                    self.active = True
                    self.settled.set()
                more = self.step()
                self.failures = 0
            except self.expected:
                if self.on_error is not None:
                    self.on_error()
                continue
            except Exception:
                self.failures += 1
                log.exception("worker_step_failed", worker=self.name, failures=self.failures)
                self._stop.wait(min(self.max_backoff, 0.1 * 2**self.failures))
                if self.on_error is not None:
                    self.on_error()
                continue
            if not more:
                self._wake.wait(self.idle)
                if self.on_idle is not None:
                    try:
                        self.on_idle()
                    except Exception:
                        log.exception("worker_idle_failed", worker=self.name)
