"""Requests a minute, tokens a minute and concurrent requests in Redis: one Lua script checks
every limit and counts the request in all of them, with Redis' own clock, so every instance
admits against one count.

A window is a sorted set (member -> when it came) beside a hash (member -> weight, and `_sum`,
the window's total); a slot set is a sorted set (member -> when its lease ends).
"""

from __future__ import annotations

import redis.asyncio as redis

from llmgateway.vocabulary.admission import WINDOW_S, Admission, Slot, Window

# KEYS: the windows, then the slot sets. ARGV: window ms, lease ms, member, number of windows,
# each window's limit and weight, then each slot set's limit.
# Answers {1, 0, 0, remaining...} when admitted, {0, wait ms, index of the refusing key}.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, lease, member, n = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local sums = {}
for i = 1, n do
  local key, weights = KEYS[i], KEYS[i] .. ':w'
  local sum = tonumber(redis.call('HGET', weights, '_sum') or '0')
  local expired = redis.call('ZRANGEBYSCORE', key, '-inf', now - window)
  for _, old in ipairs(expired) do
    sum = sum - tonumber(redis.call('HGET', weights, old) or '0')
    redis.call('HDEL', weights, old)
  end
  if #expired > 0 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    redis.call('HSET', weights, '_sum', sum)
  end
  if sum + tonumber(ARGV[4 + 2 * i]) > tonumber(ARGV[3 + 2 * i]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local wait = window
    if oldest[2] then wait = tonumber(oldest[2]) + window - now end
    return {0, wait, i}
  end
  sums[i] = sum
end
for j = n + 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[j], '-inf', now)
  if redis.call('ZCARD', KEYS[j]) >= tonumber(ARGV[4 + n + j]) then return {0, 1000, j} end
end
local answer = {1, 0, 0}
for i = 1, n do
  local key, weights, weight = KEYS[i], KEYS[i] .. ':w', tonumber(ARGV[4 + 2 * i])
  redis.call('ZADD', key, now, member)
  redis.call('HSET', weights, member, weight, '_sum', sums[i] + weight)
  redis.call('PEXPIRE', key, window)
  redis.call('PEXPIRE', weights, window)
  answer[#answer + 1] = tonumber(ARGV[3 + 2 * i]) - sums[i] - weight
end
for j = n + 1, #KEYS do
  redis.call('ZADD', KEYS[j], now + lease, member)
  redis.call('PEXPIRE', KEYS[j], lease)
end
return answer
"""
# KEYS: the windows to reweight, then the slot sets. ARGV: member, number of windows, weight.
_RELEASE = """
local member, n, weight = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 1, n do
  local weights = KEYS[i] .. ':w'
  local old = redis.call('HGET', weights, member)
  if old then
    redis.call('HSET', weights, member, weight)
    redis.call('HINCRBY', weights, '_sum', weight - tonumber(old))
  end
end
for j = n + 1, #KEYS do redis.call('ZREM', KEYS[j], member) end
return 1
"""


class RedisRateLimiter:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._prefix = f"{prefix}:limits:"
        self._admit = client.register_script(_ADMIT)
        self._release = client.register_script(_RELEASE)

    async def admit(self, member: str, windows: list[Window], slots: list[Slot], lease_s: float) -> Admission:
        names = [w.name for w in windows] + [s.name for s in slots]
        keys = [self._prefix + name for name in names]
        args: list[int | str] = [int(WINDOW_S * 1000), int(lease_s * 1000), member, len(windows)]
        for window in windows:
            args += [window.limit, window.weight]
        args += [slot.limit for slot in slots]
        admitted, wait_ms, refusing, *remaining = await self._admit(keys=keys, args=args)
        if not admitted:
            return Admission(False, (), int(wait_ms) / 1000, names[int(refusing) - 1])
        return Admission(True, tuple(int(r) for r in remaining), 0.0)

    async def release(self, member: str, windows: list[str], weight: int, slots: list[str]) -> None:
        keys = [self._prefix + name for name in windows] + [self._prefix + name for name in slots]
        if keys:
            await self._release(keys=keys, args=[member, len(windows), weight])
