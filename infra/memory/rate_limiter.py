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
        self._lock = threading.Lock()

    def hit(self, key: str, *, limit: int, window_seconds: int) -> int:
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - window_seconds:
                hits.popleft()
            if len(hits) < limit:
                hits.append(now)
                if len(self._hits) > 100_000:
                    self._evict(now, window_seconds)
                return 0
            return max(1, math.ceil(hits[0] + window_seconds - now))

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)

    def _evict(self, now: float, window_seconds: int) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - window_seconds]:
            del self._hits[key]
