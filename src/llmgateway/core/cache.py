"""The response cache: an identical request answered with what an earlier call streamed.

Off by default (`LLMGATEWAY_CACHE=memory|redis`). The key is a hash of everything that changes
the answer: the name the client asked for (provider/model, alias or route), the whole message
list as it goes upstream (session history included), the parameters, tools, tool choice and
response format, and the tenant: the client's own vendor key when it sends one (a virtual
key's team, once keys exist), so no answer crosses tenants. An answer sampled at a temperature
other than 0 is meant to differ from the next: it is cached only when the request or
`LLMGATEWAY_CACHE_ANY_TEMPERATURE` says so.

A stored answer is its events in order, each with its offset from the start of the call, and
what the call cost: a streamed hit sends the same chunks (tool-call fragments included), at
once or at the pace they first came, and reports the original tokens with a cost of 0 and the
original cost as saved. Only a complete, successful answer is stored. A store that fails
(Redis down) makes the request a `bypass`: served by the vendor, never failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from llmgateway.settings import Settings
from llmgateway.vocabulary.events import (
    ChatEvent,
    Finish,
    ReasoningDelta,
    ResponseInfo,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llmgateway.vocabulary.requests import CacheOptions, ChatRequest

logger = logging.getLogger("llmgateway.cache")

_FORMAT = 1  # of a stored value; a value of another format is a miss


class CacheStore(Protocol):
    """Where answers are kept: in the process (`MemoryCacheStore`) or in Redis."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def delete(self, key: str) -> bool: ...

    async def clear(self) -> int: ...


class MemoryCacheStore:
    """Least recently used entries go first once the values pass `max_bytes`; each entry also
    expires after its own TTL."""

    def __init__(self, max_bytes: int, clock: Any = time.monotonic) -> None:
        self._max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self.bytes = 0

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry[1]

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if len(value) > self._max_bytes:
            return
        self._drop(key)
        self._entries[key] = (self._clock() + ttl_s, value)
        self.bytes += len(value)
        while self.bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    async def delete(self, key: str) -> bool:
        return self._drop(key)

    async def clear(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        self.bytes = 0
        return count

    def _drop(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self.bytes -= len(entry[1])
        return True


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """An answer as it was streamed: (seconds from the call's start, event), and its cost."""

    events: list[tuple[float, ChatEvent]]
    cost_usd: float | None


def encode_answer(answer: CachedAnswer) -> bytes:
    return orjson.dumps({"format": _FORMAT, "cost_usd": answer.cost_usd,
                         "events": [[round(at, 6), *_event_fields(event)] for at, event in answer.events]})  # fmt: skip


def decode_answer(value: bytes) -> CachedAnswer | None:
    """The stored answer, or None for a value this version cannot read (a miss, not an error)."""
    try:
        data = orjson.loads(value)
        if data.get("format") != _FORMAT:
            return None
        return CachedAnswer([(at, _EVENT_KINDS[kind](*fields)) for at, kind, *fields in data["events"]], data["cost_usd"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


_EVENT_KINDS: dict[str, Any] = {"text": TextDelta, "tool": ToolCallDelta, "reasoning": ReasoningDelta, "usage": Usage,
                                "finish": Finish, "info": ResponseInfo}  # fmt: skip


def _event_fields(event: ChatEvent) -> list[Any]:
    if isinstance(event, TextDelta):
        return ["text", event.text]
    if isinstance(event, ToolCallDelta):
        return ["tool", event.index, event.id, event.name, event.arguments]
    if isinstance(event, ReasoningDelta):
        return ["reasoning", event.text, event.signature]
    if isinstance(event, Usage):
        return ["usage", event.input_tokens, event.output_tokens, event.cached_tokens, event.reasoning_tokens,
                event.cache_write_tokens]  # fmt: skip
    if isinstance(event, Finish):
        return ["finish", event.reason]
    assert isinstance(event, ResponseInfo)
    return ["info", event.model, event.response_id, event.system_fingerprint, event.service_tier]


def response_cache(settings: Settings, shared_store: CacheStore | None) -> ResponseCache | None:
    """The cache `LLMGATEWAY_CACHE` asks for: None (off), in this process, or Redis' store."""
    if settings.cache == "off":
        return None
    store = MemoryCacheStore(settings.cache_max_bytes) if settings.cache == "memory" else shared_store
    assert store is not None, "a Redis cache needs the Redis state (settings check LLMGATEWAY_REDIS_URL)"
    return ResponseCache(store, default_ttl_s=settings.cache_ttl_s, any_temperature=settings.cache_any_temperature,
                         timeout_s=settings.redis_timeout_s)  # fmt: skip


class ResponseCache:
    """The gateway's cache: which requests may use it, their keys, and bounded reads and writes."""

    def __init__(self, store: CacheStore, *, default_ttl_s: float, any_temperature: bool, timeout_s: float) -> None:
        self.store = store
        self._default_ttl_s = default_ttl_s
        self._any_temperature = any_temperature
        self._timeout_s = timeout_s
        self._writes: set[asyncio.Task[None]] = set()

    def key(self, requested: str, request: ChatRequest, options: CacheOptions | None, tenant: str | None) -> str | None:
        """The request's key, or None when its answer must not be cached (sampled). `tenant`
        tells apart whose answers these are (a client's own vendor key, by its fingerprint)."""
        temperature = request.parameters.get("temperature")
        sampled = temperature not in (None, 0)
        if sampled and not (self._any_temperature or (options is not None and options.any_temperature)):
            return None
        identity = {
            "requested": requested,
            "messages": request.messages,
            "parameters": request.parameters,
            "tools": request.tools,
            "tool_choice": request.tool_choice,
            "response_format": request.response_format,
            "tenant": tenant,
        }
        return hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()

    async def use(self, key: str, options: CacheOptions | None) -> CacheUse:
        """What the cache does for one request: a hit, a miss to be stored, or a bypass (the
        request said `no_cache`, or the store did not answer: the vendor serves either way)."""
        options = options or CacheOptions()
        if options.no_cache:
            return CacheUse("bypass", None, self, key, options, keeps=not options.no_store)
        try:
            async with asyncio.timeout(self._timeout_s):
                value = await self.store.get(key)
        except Exception as exc:  # the store (Redis) is down or slow
            logger.warning("response cache: lookup failed (%s); answering from the vendor", type(exc).__name__)
            return CacheUse("bypass", None, self, key, options, keeps=False)
        answer = decode_answer(value) if value is not None else None
        if answer is not None:
            return CacheUse("hit", answer, self, key, options, keeps=False)
        return CacheUse("miss", None, self, key, options, keeps=not options.no_store)

    def keep(self, key: str, answer: CachedAnswer, options: CacheOptions) -> None:
        """Store an answer in the background: the client never waits for the cache."""
        ttl_s = options.ttl_s or self._default_ttl_s
        task = asyncio.get_running_loop().create_task(self._write(key, encode_answer(answer), ttl_s))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, key: str, value: bytes, ttl_s: float) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await self.store.set(key, value, ttl_s)
        except Exception as exc:
            logger.warning("response cache: an answer was not stored (%s)", type(exc).__name__)

    async def writes_done(self) -> None:
        """Wait for the answers being stored (at shutdown, and for tests)."""
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=self._timeout_s * 4)


@dataclass(slots=True)
class CacheUse:
    """One call's use of the cache: what the lookup found, and whether its answer is kept."""

    status: str  # hit, miss or bypass
    answer: CachedAnswer | None
    _cache: ResponseCache
    key: str
    _options: CacheOptions
    keeps: bool  # the answer, once complete and successful, is stored

    @property
    def paced(self) -> bool:
        return self._options.paced

    def keep(self, answer: CachedAnswer) -> None:
        self._cache.keep(self.key, answer, self._options)
