"""The in-process sliding-window rate limiter, driven by an injected clock."""

from __future__ import annotations

import threading

from infra.memory.rate_limiter import MemoryRateLimiter


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def limiter() -> tuple[MemoryRateLimiter, FakeClock]:
    clock = FakeClock()
    return MemoryRateLimiter(clock=clock), clock  # type: ignore[arg-type]


def test_hits_up_to_the_limit_are_allowed_then_refused() -> None:
    rl, _ = limiter()
    assert [rl.hit("k", limit=3, window_seconds=60) for _ in range(3)] == [0, 0, 0]
    assert rl.hit("k", limit=3, window_seconds=60) == 60


def test_retry_after_counts_down_to_when_the_oldest_hit_leaves_the_window() -> None:
    rl, clock = limiter()
    rl.hit("k", limit=2, window_seconds=60)
    clock.advance(10)
    rl.hit("k", limit=2, window_seconds=60)
    clock.advance(15.5)
    # The oldest hit (25.5 s ago) leaves the window in 34.5 s: rounded up.
    assert rl.hit("k", limit=2, window_seconds=60) == 35
    clock.advance(34.4)
    assert rl.hit("k", limit=2, window_seconds=60) == 1
    clock.advance(0.1)
    assert rl.hit("k", limit=2, window_seconds=60) == 0
    # Now the hit at t=10 is the oldest: it leaves 10 s after the first one did.
    assert rl.hit("k", limit=2, window_seconds=60) == 10


def test_refused_hits_are_not_counted() -> None:
    rl, clock = limiter()
    for _ in range(2):
        assert rl.hit("k", limit=2, window_seconds=10) == 0
    for _ in range(50):  # hammering while limited does not extend the wait
        clock.advance(0.1)
        assert rl.hit("k", limit=2, window_seconds=10) > 0
    clock.advance(5.0)  # 10 s after the two allowed hits
    assert rl.hit("k", limit=2, window_seconds=10) == 0
    assert rl.hit("k", limit=2, window_seconds=10) == 0
    assert rl.hit("k", limit=2, window_seconds=10) == 10


def test_the_window_slides_instead_of_resetting() -> None:
    rl, clock = limiter()
    for _ in range(3):
        assert rl.hit("k", limit=3, window_seconds=60) == 0
        clock.advance(20)
    # t=60: the first hit (t=0) just left; the other two remain.
    assert rl.hit("k", limit=3, window_seconds=60) == 0
    assert rl.hit("k", limit=3, window_seconds=60) == 20


def test_keys_are_counted_separately() -> None:
    rl, _ = limiter()
    assert rl.hit("login:ip:1.2.3.4", limit=1, window_seconds=60) == 0
    assert rl.hit("login:ip:1.2.3.4", limit=1, window_seconds=60) > 0
    assert rl.hit("login:ip:5.6.7.8", limit=1, window_seconds=60) == 0


def test_reset_forgets_a_key() -> None:
    rl, _ = limiter()
    rl.hit("k", limit=1, window_seconds=60)
    assert rl.hit("k", limit=1, window_seconds=60) > 0
    rl.reset("k")
    assert rl.hit("k", limit=1, window_seconds=60) == 0
    rl.reset("never-seen")  # harmless


def test_retry_after_is_at_least_one_second() -> None:
    rl, clock = limiter()
    rl.hit("k", limit=1, window_seconds=1)
    clock.advance(0.999)
    assert rl.hit("k", limit=1, window_seconds=1) == 1


def test_idle_keys_are_evicted_when_the_table_grows() -> None:
    rl, clock = limiter()
    for i in range(100_001):
        rl.hit(f"k{i}", limit=1, window_seconds=1)
    clock.advance(2)
    rl.hit("fresh", limit=1, window_seconds=1)
    rl.hit("fresh-2", limit=1, window_seconds=1)
    assert set(rl._hits) <= {"fresh", "fresh-2"} and "fresh-2" in rl._hits


def test_concurrent_hits_never_exceed_the_limit() -> None:
    rl = MemoryRateLimiter()
    allowed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(100):
            if rl.hit("shared", limit=50, window_seconds=60) == 0:
                with lock:
                    allowed.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 50


def test_peek_answers_like_hit_without_counting() -> None:
    rl, clock = limiter()
    assert rl.peek("k", limit=2, window_seconds=60) == 0
    assert rl.peek("k", limit=2, window_seconds=60) == 0
    assert [rl.hit("k", limit=2, window_seconds=60) for _ in range(2)] == [0, 0]
    clock.advance(10)
    assert rl.peek("k", limit=2, window_seconds=60) == 50
    assert rl.hit("k", limit=2, window_seconds=60) == 50
    # A smaller limit waits for the hit that brings the count under it.
    assert rl.peek("k", limit=1, window_seconds=60) == 50
    assert rl.peek("never-hit", limit=1, window_seconds=60) == 0
    assert "never-hit" not in rl._hits


def test_eviction_keeps_a_key_whose_own_window_still_holds() -> None:
    rl, clock = limiter()
    rl.hit("lock", limit=1, window_seconds=900)
    for i in range(100_001):
        rl.hit(f"k{i}", limit=1, window_seconds=1)
    clock.advance(2)
    rl.hit("fresh", limit=1, window_seconds=1)
    assert "k0" not in rl._hits
    assert rl.peek("lock", limit=1, window_seconds=900) == 898
