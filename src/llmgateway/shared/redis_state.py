"""The one Redis connection pool of a gateway process, and the shared state that lives on it."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis
from redis.exceptions import RedisError

from llmgateway.settings import Settings
from llmgateway.shared.redis_budgets import RedisLedger
from llmgateway.shared.redis_cache import RedisCacheStore
from llmgateway.shared.redis_cooldowns import RedisCooldowns
from llmgateway.shared.redis_rate_limits import RedisRateLimiter


class RedisState:
    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url is not None
        self._timeout_s = settings.redis_timeout_s
        # No socket timeout: the cooldown listener waits on its connection indefinitely. Every
        # other call is bounded by an asyncio timeout of `redis_timeout_s` where it is made.
        self.client = redis.from_url(
            settings.redis_url.get_secret_value(), socket_connect_timeout=settings.redis_timeout_s, max_connections=64
        )
        self.cooldowns = RedisCooldowns(
            self.client, settings.redis_prefix, settings.cooldown_failures, settings.cooldown_s, settings.redis_timeout_s
        )
        self.cache_store = RedisCacheStore(self.client, settings.redis_prefix)
        self.rate_limiter = RedisRateLimiter(self.client, settings.redis_prefix)
        self.ledger = RedisLedger(self.client, settings.redis_prefix)

    async def reachable(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout_s * 4):
                return bool(await self.client.ping())
        except (RedisError, OSError, TimeoutError):
            return False

    async def aclose(self) -> None:
        await self.cooldowns.aclose()
        await self.client.aclose()
