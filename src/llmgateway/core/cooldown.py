"""A circuit breaker per deployment: one that keeps failing is left out of rotation a while.

A deployment is a provider, model, endpoint and key. After `failures` retryable failures in a
row it cools down for `cooldown_s`; the first success closes the breaker again. A cooling
deployment is still tried when nothing else is left (fail open), so a request never fails
only because every deployment had a bad minute.

Decisions read this process's table, so routing costs no round trip. With a shared store
(`SharedCooldowns`, Redis) the table is a mirror of the fleet's: each failure and each success
that changes something is sent to the store, which counts for every instance and tells them
all the new state; `mirror` applies it. Without the store, or while it is down, each process
keeps its own count.
"""

from __future__ import annotations

import hashlib
import time
from typing import Callable, Protocol

from llmgateway.vocabulary.requests import ChatRequest, EmbeddingRequest, key_of


def deployment_of(request: ChatRequest | EmbeddingRequest) -> str:
    """A deployment's name, the same in every process, revealing neither key nor endpoint."""
    identity = "\x00".join((request.provider.id, request.model, request.base_url or "", key_of(request)))
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


class SharedCooldowns(Protocol):
    """The fleet's breaker state (shared/redis_cooldowns.py); calls return at once."""

    def failed(self, deployment: str) -> None: ...

    def succeeded(self, deployment: str) -> None: ...


_MAX_DEPLOYMENTS = 10_000  # state kept for at most this many deployments (client keys make many)


class Cooldowns:
    def __init__(
        self,
        failures: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedCooldowns | None = None,
    ) -> None:
        self._threshold = failures
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._shared = shared
        self._failures: dict[str, int] = {}
        self._until: dict[str, float] = {}

    def available(self, deployment: str) -> bool:
        until = self._until.get(deployment)
        if until is None:
            return True
        if self._clock() >= until:
            del self._until[deployment]  # cooled down: forget it
            return True
        return False

    def failed(self, deployment: str) -> None:
        count = self._failures.pop(deployment, 0) + 1
        self._failures[deployment] = count  # re-inserted: the dict's order is the order of last failure
        if count >= self._threshold:
            self._until[deployment] = self._clock() + self._cooldown_s
            del self._failures[deployment]
        self._bound()
        if self._shared is not None:
            self._shared.failed(deployment)

    def succeeded(self, deployment: str) -> None:
        known = self._failures.pop(deployment, None) is not None
        known = self._until.pop(deployment, None) is not None or known
        if known and self._shared is not None:  # a healthy deployment costs the store nothing
            self._shared.succeeded(deployment)

    def mirror(self, deployment: str, failures: int, cooling_s: float) -> None:
        """The fleet's state of one deployment, as the shared store says it is now."""
        self._failures.pop(deployment, None)
        self._until.pop(deployment, None)
        if cooling_s > 0:
            self._until[deployment] = self._clock() + cooling_s
        elif failures > 0:
            self._failures[deployment] = failures
        self._bound()

    def _bound(self) -> None:
        for table in (self._failures, self._until):
            while len(table) > _MAX_DEPLOYMENTS:
                del table[next(iter(table))]  # the least recently failed

    def tracked(self) -> int:
        """How many deployments the breaker holds state for (bounded)."""
        return len(self._failures) + len(self._until)

    def cooling(self) -> int:
        """How many deployments are out of rotation now."""
        now = self._clock()
        return sum(1 for until in self._until.values() if until > now)
