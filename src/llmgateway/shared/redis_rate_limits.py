"""Sliding-window request limits in Redis: one Lua script checks every window and counts the
request in all of them, with Redis' own clock, so every instance admits against one count."""

from __future__ import annotations

import uuid

import redis.asyncio as redis

from llmgateway.vocabulary.admission import WINDOW_S, Admission

# KEYS: the windows. ARGV: window ms, member, then each window's limit.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local counts = {}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= tonumber(ARGV[2 + i]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local wait = window
    if oldest[2] then wait = tonumber(oldest[2]) + window - now end
    return {0, wait}
  end
  counts[i] = count
end
local remaining = {1, 0}
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2] .. ':' .. i)
  redis.call('PEXPIRE', key, window)
  remaining[#remaining + 1] = tonumber(ARGV[2 + i]) - counts[i] - 1
end
return remaining
"""


class RedisRateLimiter:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._prefix = f"{prefix}:rpm:"
        self._script = client.register_script(_ADMIT)

    async def admit(self, windows: list[tuple[str, int]]) -> Admission:
        keys = [self._prefix + name for name, _ in windows]
        args = [int(WINDOW_S * 1000), uuid.uuid4().hex, *(limit for _, limit in windows)]
        admitted, wait_ms, *remaining = await self._script(keys=keys, args=args)
        return Admission(bool(admitted), tuple(int(r) for r in remaining), int(wait_ms) / 1000)
