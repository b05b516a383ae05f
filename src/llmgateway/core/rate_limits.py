"""Requests a minute, as sliding windows, exact whatever the concurrency.

A request is admitted only when every window it counts in (its key's, its team's) has room;
then it is counted in all of them at once. In one process the check and the count happen
without an await between them; across instances the Redis limiter does both in one Lua script
(shared/redis_rate_limits.py), so N instances admit exactly what one would.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable, Protocol

from llmgateway.vocabulary.admission import WINDOW_S, Admission


class RateLimiter(Protocol):
    async def admit(self, windows: list[tuple[str, int]]) -> Admission:
        """Count one request in every window (name, limit) if all have room."""
        ...


class InProcessRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_windows: int = 100_000) -> None:
        self._clock = clock
        self._max_windows = max_windows
        self._windows: dict[str, deque[float]] = {}

    async def admit(self, windows: list[tuple[str, int]]) -> Admission:
        now = self._clock()
        logs = []
        for name, limit in windows:
            log = self._windows.setdefault(name, deque())
            while log and log[0] <= now - WINDOW_S:
                log.popleft()
            if len(log) >= limit:
                return Admission(False, (), max(0.0, log[0] + WINDOW_S - now) if log else WINDOW_S)
            logs.append((log, limit))
        for log, _ in logs:
            log.append(now)
        while len(self._windows) > self._max_windows:  # bounded: the oldest windows go
            del self._windows[next(iter(self._windows))]
        return Admission(True, tuple(limit - len(log) for log, limit in logs), 0.0)
