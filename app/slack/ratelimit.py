"""A per-user sliding-window rate limit for questions asked in Slack."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0


class RateLimiter:
    """Allow at most `per_minute` asks per key in any 60-second window (in memory, per process)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> int:
        """Count one ask for `key`; return 0 if allowed, else the seconds to wait before the next one."""
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= WINDOW_S:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return max(1, int(WINDOW_S - (now - hits[0]) + 0.999))
        hits.append(now)
        if len(self._hits) > 10_000:
            # Drop users whose window has emptied so the table cannot grow without bound.
            for stale in [k for k, v in self._hits.items() if not v or now - v[-1] >= WINDOW_S]:
                del self._hits[stale]
        return 0
