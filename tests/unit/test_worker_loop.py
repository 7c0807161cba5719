"""WorkerLoop: the loop projectors, job workers and GC share (standby, backoff, wake-ups)."""

from __future__ import annotations

import threading
import time
from itertools import pairwise

from infra.processes.loop import WorkerLoop


class FakeLock:
    """An instance lock another process holds until `free` is set."""

    def __init__(self) -> None:
        self.free = threading.Event()
        self.held = False

    def try_acquire(self) -> bool:
        self.held = self.held or self.free.is_set()
        return self.held

    def is_held(self) -> bool:
        return self.held

    def release(self) -> None:
        self.held = False

    def has_owner(self) -> bool:
        return True


def eventually(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_failing_step_is_retried_with_growing_backoff_and_the_loop_survives() -> None:
    calls: list[float] = []
    errors: list[int] = []

    def step() -> bool:
        calls.append(time.monotonic())
        if len(calls) <= 3:
            raise RuntimeError("poison")
        return False

    loop = WorkerLoop("t", step, idle=0.01, on_error=lambda: errors.append(1))
    loop.start()
    try:
        eventually(lambda: len(calls) >= 5)
    finally:
        loop.stop()
    gaps = [b - a for a, b in pairwise(calls)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4 and gaps[2] >= 0.8  # 0.1 * 2**failures
    assert len(errors) == 3 and loop.failures == 0


def test_a_loop_whose_lock_is_held_elsewhere_stands_by_until_it_gets_it() -> None:
    lock = FakeLock()
    ran = threading.Event()
    activated: list[int] = []

    def step() -> bool:
        ran.set()
        return False

    loop = WorkerLoop("t", step, lock=lock, standby=0.01, on_active=lambda: activated.append(1))
    loop.start()
    try:
        assert not ran.wait(0.2) and not loop.active
        lock.free.set()
        assert ran.wait(2) and loop.active and activated == [1]
    finally:
        loop.stop()


def test_more_work_runs_at_once_and_a_wake_cuts_the_idle_wait_short() -> None:
    due = [3]
    steps: list[float] = []

    def step() -> bool:
        steps.append(time.monotonic())
        if due[0] > 0:
            due[0] -= 1
            return True
        return False

    loop = WorkerLoop("t", step, idle=30.0)
    loop.start()
    try:
        eventually(lambda: len(steps) == 4)
        assert steps[3] - steps[0] < 1.0  # no idle wait while work was due
        loop.wake()
        eventually(lambda: len(steps) == 5, timeout=2.0)
    finally:
        loop.stop()
