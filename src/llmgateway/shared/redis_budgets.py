"""Budget ledgers in Redis: one hash per budget and period (`spent`, `held`), checked and held
in one Lua script, so that every instance reserves against the same spend."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

import redis.asyncio as redis

from llmgateway.vocabulary.admission import Account

# KEYS: the accounts. ARGV: amount, then each account's budget. 0: held; i > 0: account i
# has no ledger yet (open it, then ask again); -i: the amount does not fit in account i.
_RESERVE = """
local amount = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if redis.call('HEXISTS', key, 'spent') == 0 then return i end
end
for i, key in ipairs(KEYS) do
  local spent = tonumber(redis.call('HGET', key, 'spent'))
  local held = tonumber(redis.call('HGET', key, 'held') or '0')
  if spent + held + amount > tonumber(ARGV[1 + i]) + 1e-12 then return -i end
end
for i, key in ipairs(KEYS) do redis.call('HINCRBYFLOAT', key, 'held', amount) end
return 0
"""
# KEYS: the accounts. ARGV: what was held, what it cost.
_SETTLE = """
for i, key in ipairs(KEYS) do
  redis.call('HINCRBYFLOAT', key, 'held', -tonumber(ARGV[1]))
  redis.call('HINCRBYFLOAT', key, 'spent', tonumber(ARGV[2]))
end
return 0
"""
_DAY_S = 86_400


class RedisLedger:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = f"{prefix}:budget:"
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._opening: dict[str, asyncio.Future[None]] = {}

    async def reserve(self, accounts: list[Account], amount: float, spent_so_far: Callable[[Account], Awaitable[float]]) -> Account | None:
        keys = [self._prefix + account.name for account in accounts]
        args = [repr(amount), *(repr(account.budget_usd) for account in accounts)]
        for _ in range(len(accounts) + 1):
            answer = int(await self._reserve(keys=keys, args=args))
            if answer == 0:
                return None
            if answer < 0:
                return accounts[-answer - 1]
            await self._open(keys[answer - 1], accounts[answer - 1], spent_so_far)
        raise RuntimeError("a budget ledger could not be opened")

    async def _open(self, key: str, account: Account, spent_so_far: Callable[[Account], Awaitable[float]]) -> None:
        """Start a ledger from the request log; the first instance to write wins (HSETNX).

        A burst on a new period finds no ledger in every request at once: they wait on one
        reading of the request log in this process, not one each (hundreds of queries at
        once would hold the burst past the bound on Redis calls, and each instance would
        then count alone)."""
        opening = self._opening.get(key)
        if opening is None:
            opening = self._opening[key] = asyncio.ensure_future(self._start(key, account, spent_so_far))
            opening.add_done_callback(lambda _: self._opening.pop(key, None))
        await asyncio.shield(opening)  # a request that leaves does not stop the others' opening

    async def _start(self, key: str, account: Account, spent_so_far: Callable[[Account], Awaitable[float]]) -> None:
        spent = await spent_so_far(account)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "spent", repr(spent))
            if account.period_end is not None:
                pipe.expireat(key, int(account.period_end) + _DAY_S)
            await pipe.execute()

    async def settle(self, accounts: list[Account], held: float, cost: float) -> None:
        await self._settle(keys=[self._prefix + account.name for account in accounts], args=[repr(held), repr(cost)])
