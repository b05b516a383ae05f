"""Every resource closed or bounded: pooled SDK clients that own connections are closed on
eviction and at shutdown; the circuit breaker's state stays bounded however many keys come."""

from __future__ import annotations

import asyncio

from llmgateway.core.cooldown import Cooldowns
from llmgateway.providers.pool import ClientPool


async def test_evicted_clients_that_own_connections_are_closed() -> None:
    closed: list[str] = []

    async def close(client: str) -> None:
        closed.append(client)

    pool: ClientPool[str] = ClientPool(lambda key: f"client-{key}", max_clients=2, close=close)
    for key in range(5):
        pool.get(key)
    await asyncio.sleep(0)  # evictions close in the background
    assert sorted(closed) == ["client-0", "client-1", "client-2"]
    await pool.aclose()
    assert sorted(closed) == [f"client-{k}" for k in range(5)]


async def test_clients_sharing_the_providers_http_client_are_dropped_not_closed() -> None:
    pool: ClientPool[str] = ClientPool(lambda key: f"client-{key}", max_clients=1)
    assert pool.get("a") == "client-a" and pool.get("b") == "client-b"
    await pool.aclose()  # nothing to close, nothing raised


def test_cooldown_state_is_bounded_however_many_keys_fail() -> None:
    now = [0.0]
    cooldowns = Cooldowns(failures=2, cooldown_s=30, clock=lambda: now[0])
    for key in range(25_000):  # 25,000 client keys, each failing once, then once more
        cooldowns.failed(("openai", "gpt-4o-mini", None, key))
    assert cooldowns.tracked() <= 20_000
    newest = ("openai", "gpt-4o-mini", None, 24_999)
    cooldowns.failed(newest)  # its second failure: it cools down
    assert not cooldowns.available(newest)
    now[0] = 31.0
    assert cooldowns.available(newest)  # cooled down, and forgotten
    assert cooldowns.tracked() <= 20_000
