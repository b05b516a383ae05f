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


class Cooldowns:
    def __init__(self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = failures
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._failures: dict[Hashable, int] = {}
        self._until: dict[Hashable, float] = {}

    def available(self, deployment: Hashable) -> bool:
        until = self._until.get(deployment)
        return until is None or self._clock() >= until

    def failed(self, deployment: Hashable) -> None:
        count = self._failures.get(deployment, 0) + 1
        self._failures[deployment] = count
        if count >= self._threshold:
            self._until[deployment] = self._clock() + self._cooldown_s
            self._failures[deployment] = 0

    def succeeded(self, deployment: Hashable) -> None:
        self._failures.pop(deployment, None)
        self._until.pop(deployment, None)

    def cooling(self) -> int:
        """How many deployments are out of rotation now."""
        now = self._clock()
        return sum(1 for until in self._until.values() if until > now)
