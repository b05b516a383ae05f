"""A circuit breaker per deployment: one that keeps failing is left out of rotation a while.

A deployment is a provider, model, endpoint and key. After `failures` retryable failures in a
row it cools down for `cooldown_s`; the first success closes the breaker again. A cooling
deployment is still tried when nothing else is left (fail open), so a request never fails
only because every deployment had a bad minute.
"""

from __future__ import annotations

import time
from typing import Callable, Hashable

from llmgateway.vocabulary.requests import ChatRequest, key_of


def deployment_of(request: ChatRequest) -> Hashable:
    return (request.provider.id, request.model, request.base_url, hash(key_of(request)))


_MAX_DEPLOYMENTS = 10_000  # state kept for at most this many deployments (client keys make many)


class Cooldowns:
    def __init__(self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = failures
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._failures: dict[Hashable, int] = {}
        self._until: dict[Hashable, float] = {}

    def available(self, deployment: Hashable) -> bool:
        until = self._until.get(deployment)
        if until is None:
            return True
        if self._clock() >= until:
            del self._until[deployment]  # cooled down: forget it
            return True
        return False

    def failed(self, deployment: Hashable) -> None:
        count = self._failures.pop(deployment, 0) + 1
        self._failures[deployment] = count  # re-inserted: the dict's order is the order of last failure
        if count >= self._threshold:
            self._until[deployment] = self._clock() + self._cooldown_s
            del self._failures[deployment]
        for table in (self._failures, self._until):
            while len(table) > _MAX_DEPLOYMENTS:
                del table[next(iter(table))]  # the least recently failed

    def tracked(self) -> int:
        """How many deployments the breaker holds state for (bounded)."""
        return len(self._failures) + len(self._until)

    def succeeded(self, deployment: Hashable) -> None:
        self._failures.pop(deployment, None)
        self._until.pop(deployment, None)

    def cooling(self) -> int:
        """How many deployments are out of rotation now."""
        now = self._clock()
        return sum(1 for until in self._until.values() if until > now)
