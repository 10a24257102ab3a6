"""A per-key rate limit kept in the database, so that it holds across worker processes and restarts."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from sqlalchemy import Integer, String, delete, update
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Database, insert_ignore

WINDOW_S = 60


class RateCounter(Base):
    """How many requests one key made in one minute (a fixed window, numbered from the epoch)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    count: Mapped[int] = mapped_column(Integer, default=1)


class RateLimiter:
    """Allow at most `per_minute` hits per key in each minute; the count is one atomic row update."""

    def __init__(self, database: Database, per_minute: int, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self.per_minute = per_minute
        self.clock = clock

    def hit(self, key: str) -> int:
        """Count one hit for `key`; return 0 if allowed, else the seconds to wait before the next one."""
        now = self.clock()
        window = int(now // WINDOW_S)
        with self.database.session() as db:
            if insert_ignore(db, RateCounter, key=key[:255], window=window, count=1):
                # The first hit of a key in a minute: forget windows that can no longer matter.
                db.execute(delete(RateCounter).where(RateCounter.window < window - 1))
                return 0
            counted = db.execute(
                update(RateCounter)
                .where(RateCounter.key == key[:255], RateCounter.window == window,
                       RateCounter.count < self.per_minute)
                .values(count=RateCounter.count + 1)
            ).rowcount  # type: ignore[attr-defined]
        if counted:
            return 0
        return max(1, math.ceil((window + 1) * WINDOW_S - now))
