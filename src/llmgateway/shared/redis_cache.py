"""The response cache in Redis, so that every instance answers from every other's answers.

Values live under `<prefix>:cache:<key>` with Redis' own expiry. The calls here are bounded by
the cache's timeout where they are made (core/cache.py); a failure there is a bypass.
"""

from __future__ import annotations

from typing import AsyncIterator

import redis.asyncio as redis


class RedisCacheStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = f"{prefix}:cache:"

    async def get(self, key: str) -> bytes | None:
        return await self._redis.get(self._prefix + key)

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._redis.set(self._prefix + key, value, px=max(1, int(ttl_s * 1000)))

    async def delete(self, key: str) -> bool:
        return bool(await self._redis.delete(self._prefix + key))

    async def clear(self) -> int:
        removed = 0
        async for batch in _batches(self._redis.scan_iter(match=self._prefix + "*", count=500), 500):
            removed += await self._redis.unlink(*batch)
        return removed


async def _batches(keys: AsyncIterator[bytes], size: int) -> AsyncIterator[list[bytes]]:
    batch: list[bytes] = []
    async for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
