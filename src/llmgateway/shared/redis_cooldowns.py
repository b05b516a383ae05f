"""Circuit breakers shared by every instance through Redis.

Keys, under the configured prefix: `<prefix>:cooldown:failures:<deployment>` (failures in a
row, expiring after an hour without one) and `<prefix>:cooldown:open:<deployment>` (present
while the deployment cools down; Redis expires it, so no instance's clock matters). A Lua
script counts and opens atomically, then publishes the new state on `<prefix>:cooldown`;
every instance applies what it hears to its own table (`Cooldowns.mirror`), so routing reads
memory, never Redis. An instance that (re)connects reads the whole state first.

Redis down: the calls time out quickly and are logged; each process goes on with its own
count (fail open: a deployment is at worst tried by an instance that has not heard).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

logger = logging.getLogger("llmgateway.shared")

# KEYS: failures, open, channel. ARGV: threshold, cooldown ms, failures ttl ms, deployment.
_FAILED = """
local failures = redis.call('INCR', KEYS[1])
local cooling_ms = 0
if failures >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
  redis.call('DEL', KEYS[1])
  failures = 0
  cooling_ms = tonumber(ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
redis.call('PUBLISH', KEYS[3], ARGV[4] .. ' ' .. failures .. ' ' .. cooling_ms)
return failures
"""
# KEYS: failures, open, channel. ARGV: deployment.
_SUCCEEDED = """
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', KEYS[3], ARGV[1] .. ' 0 0')
return 0
"""
_FAILURES_TTL_MS = 3_600_000
_RECONNECT_S = 1.0

Mirror = Callable[[str, int, float], None]  # deployment, failures, seconds still cooling


class RedisCooldowns:
    """The fleet's breakers; `failed`/`succeeded` return at once and write in the background."""

    def __init__(self, client: redis.Redis, prefix: str, failures: int, cooldown_s: float, timeout_s: float) -> None:
        self._redis = client
        self._prefix = f"{prefix}:cooldown"
        self._channel = self._prefix
        self._threshold = failures
        self._cooldown_ms = max(1, int(cooldown_s * 1000))
        self._timeout_s = timeout_s
        self._failed_script = client.register_script(_FAILED)
        self._succeeded_script = client.register_script(_SUCCEEDED)
        self._writes: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None

    def _keys(self, deployment: str) -> list[str]:
        return [f"{self._prefix}:failures:{deployment}", f"{self._prefix}:open:{deployment}", self._channel]

    def failed(self, deployment: str) -> None:
        args = [self._threshold, self._cooldown_ms, _FAILURES_TTL_MS, deployment]
        self._write(self._failed_script(keys=self._keys(deployment), args=args))

    def succeeded(self, deployment: str) -> None:
        self._write(self._succeeded_script(keys=self._keys(deployment), args=[deployment]))

    def _write(self, command: object) -> None:
        task = asyncio.get_running_loop().create_task(self._bounded(command))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _bounded(self, command: object) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await command  # type: ignore[misc]
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("shared cooldowns: Redis did not take a write (%s); this process counts alone", type(exc).__name__)

    async def start(self, mirror: Mirror) -> None:
        """Listen for the fleet's changes, after reading the state as it is."""
        ready = asyncio.Event()
        self._listener = asyncio.get_running_loop().create_task(self._listen(mirror, ready), name="llmgateway-cooldowns")
        try:
            async with asyncio.timeout(self._timeout_s * 8):
                await ready.wait()
        except TimeoutError:
            logger.warning("shared cooldowns: Redis is not answering; starting with this process's own state")

    async def _listen(self, mirror: Mirror, ready: asyncio.Event) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    await self._read_state(mirror)  # after subscribing: nothing falls between the two
                    ready.set()
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            _apply(message["data"], mirror)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                logger.warning("shared cooldowns: lost Redis (%s); reconnecting", type(exc).__name__)
            await asyncio.sleep(_RECONNECT_S)

    async def _read_state(self, mirror: Mirror) -> None:
        async for key in self._redis.scan_iter(match=f"{self._prefix}:open:*", count=500):
            remaining_ms = await self._redis.pttl(key)
            if remaining_ms > 0:
                mirror(_decode(key).rsplit(":", 1)[1], 0, remaining_ms / 1000)
        async for key in self._redis.scan_iter(match=f"{self._prefix}:failures:*", count=500):
            failures = await self._redis.get(key)
            if failures is not None:
                mirror(_decode(key).rsplit(":", 1)[1], int(failures), 0.0)

    async def aclose(self) -> None:
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=self._timeout_s)
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)


def _apply(data: bytes | str, mirror: Mirror) -> None:
    deployment, failures, cooling_ms = _decode(data).split(" ")
    mirror(deployment, int(failures), int(cooling_ms) / 1000)


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
