"""In-process sliding-window rate limiter (embedded mode: one process)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


class MemoryRateLimiter:
    """Sliding log per key; refused hits are not counted."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.monotonic
        self._hits: dict[str, deque[float]] = {}
        # Each key's window, so eviction keeps a long lock while it still holds.
        self._windows: dict[str, int] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, limit: int, window_seconds: int) -> int:
        return self._count(key, limit, window_seconds, record=True)

    def peek(self, key: str, *, limit: int, window_seconds: int) -> int:
        return self._count(key, limit, window_seconds, record=False)

    def _count(self, key: str, limit: int, window_seconds: int, *, record: bool) -> int:
        now = self._clock()
        with self._lock:
            hits = self._hits.get(key) or deque()
            while hits and hits[0] <= now - window_seconds:
                hits.popleft()
            if len(hits) < limit:
                if record:
                    hits.append(now)
                    self._hits[key] = hits
                    self._windows[key] = window_seconds
                    if len(self._hits) > 100_000:
                        self._evict(now)
                return 0
            return max(1, math.ceil(hits[-limit] + window_seconds - now))

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)
            self._windows.pop(key, None)

    def _evict(self, now: float) -> None:
        idle = [k for k, v in self._hits.items() if not v or v[-1] <= now - self._windows.get(k, 0)]
        for key in idle:
            del self._hits[key]
            self._windows.pop(key, None)
