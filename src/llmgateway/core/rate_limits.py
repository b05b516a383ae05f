"""Requests a minute, tokens a minute and concurrent requests, exact whatever the concurrency.

A request is admitted only when every limit it counts in (its key's and its team's) has
room; then it is counted in all of them at once. Requests and tokens a minute are sliding
windows of weighted entries: a request weighs 1 in a requests window, and its worst case
(prompt tokens plus `max_tokens`) in a tokens window, reweighted to the vendor's count when
the call ends. A concurrency slot is held until the call ends, or until its lease runs out.

In one process the check and the count happen without an await between them; across
instances the Redis limiter does both in one Lua script (shared/redis_rate_limits.py), so N
instances admit exactly what one would.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Protocol

from llmgateway.vocabulary.admission import WINDOW_S, Admission, Slot, Window


class RateLimiter(Protocol):
    async def admit(self, member: str, windows: list[Window], slots: list[Slot], lease_s: float) -> Admission:
        """Count `member` in every window and hold a slot in each of `slots`, if all have room."""
        ...

    async def release(self, member: str, windows: list[str], weight: int, slots: list[str]) -> None:
        """Reweight `member` to `weight` in `windows` (its settled tokens); free its `slots`."""
        ...


@dataclass(slots=True)
class LimitsHold:
    """What an admitted request holds until its call ends: its tokens windows' worst case (to
    settle), its concurrency slots (to free), in the limiter that admitted it."""

    member: str
    token_windows: list[str]
    slots: list[str]
    limiter: RateLimiter
    headers: dict[str, str]  # what the limits left, for the answer
    released: bool = field(default=False)


class _WindowLog:
    __slots__ = ("entries", "weights", "total")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, str]] = deque()
        self.weights: dict[str, int] = {}
        self.total = 0

    def expire(self, before: float) -> None:
        while self.entries and self.entries[0][0] <= before:
            _, member = self.entries.popleft()
            self.total -= self.weights.pop(member, 0)


class InProcessRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_windows: int = 100_000) -> None:
        self._clock = clock
        self._max_windows = max_windows
        self._windows: dict[str, _WindowLog] = {}
        self._slots: dict[str, dict[str, float]] = {}  # slot -> member -> lease end

    async def admit(self, member: str, windows: list[Window], slots: list[Slot], lease_s: float) -> Admission:
        now = self._clock()
        logs = []
        for window in windows:
            log = self._windows.get(window.name) or self._windows.setdefault(window.name, _WindowLog())
            log.expire(now - WINDOW_S)
            if log.total + window.weight > window.limit:
                wait = log.entries[0][0] + WINDOW_S - now if log.entries else WINDOW_S
                return Admission(False, (), max(0.0, wait), window.name)
            logs.append(log)
        for slot in slots:
            held = self._slots.setdefault(slot.name, {})
            for other in [m for m, until in held.items() if until <= now]:
                del held[other]
            if len(held) >= slot.limit:
                return Admission(False, (), 1.0, slot.name)
        for log, window in zip(logs, windows):
            log.entries.append((now, member))
            log.weights[member] = window.weight
            log.total += window.weight
        for slot in slots:
            self._slots[slot.name][member] = now + lease_s
        while len(self._windows) > self._max_windows:  # bounded: the oldest windows go
            del self._windows[next(iter(self._windows))]
        return Admission(True, tuple(w.limit - log.total for w, log in zip(windows, logs)), 0.0)

    async def release(self, member: str, windows: list[str], weight: int, slots: list[str]) -> None:
        for name in windows:
            log = self._windows.get(name)
            if log is not None and member in log.weights:
                log.total += weight - log.weights[member]
                log.weights[member] = weight
        for name in slots:
            self._slots.get(name, {}).pop(member, None)
