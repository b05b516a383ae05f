"""The response cache, on both backends: hits and misses on every surface, streamed and not,
what changes the key, what is never stored, sharing through Redis, and Redis down."""

from __future__ import annotations

import time
from typing import Any, Callable

import httpx
import orjson
import pytest
import redis

from llmgateway.core.cache import CachedAnswer, MemoryCacheStore, decode_answer, encode_answer
from llmgateway.vocabulary.events import Finish, ResponseInfo, TextDelta, ToolCallDelta, Usage
from tests.conftest import SSE, RedisServer, wait_until
from tests.emulators.base import Fault
from tests.emulators.openai import OpenAIEmulator

CHAT = "/api/engine/chat/openai"
V1 = "/v1/chat/completions"
BODY = {"model": "gpt-4o-mini", "chat_input": "What is a cache?"}
WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(params=["memory", "redis"])
def cached(request: pytest.FixtureRequest, gateway_factory: Callable[..., str]) -> Callable[..., httpx.Client]:
    """Clients of gateways that cache answers, in memory or in Redis (a Redis of the test's own)."""
    overrides: dict[str, Any] = {"cache": request.param}
    if request.param == "redis":
        overrides["redis_url"] = request.getfixturevalue("redis_server").url

    def start(**more: Any) -> httpx.Client:
        return httpx.Client(base_url=gateway_factory(**{**overrides, **more}), timeout=30)

    return start


def _stream_texts(client: httpx.Client, path: str, body: dict[str, Any]) -> tuple[httpx.Headers, list[str], dict[str, Any]]:
    """A streamed answer's text pieces in order, and its final chunk's metrics."""
    with client.stream("POST", path, json=body, headers=SSE) as r:
        chunks = [orjson.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    if path == CHAT:
        texts = [c["chat_output_stream"] for c in chunks if c.get("chat_output_stream")]
    else:
        texts = [c["choices"][0]["delta"].get("content") for c in chunks if c.get("choices") and c["choices"][0]["delta"].get("content")]
    return r.headers, texts, chunks[-1]["metrics"]


def test_a_repeat_is_a_hit_that_costs_nothing_and_saves_the_original_cost(
    cached: Callable[..., httpx.Client], openai_emulator: OpenAIEmulator
) -> None:
    client = cached()
    first = client.post(CHAT, json=BODY)
    again = client.post(CHAT, json=BODY)
    assert (first.headers["x-llmgateway-cache"], again.headers["x-llmgateway-cache"]) == ("miss", "hit")
    assert first.headers["x-llmgateway-cache-key"] == again.headers["x-llmgateway-cache-key"]
    assert len(openai_emulator.requests) == 1  # the vendor was called once
    original, hit = first.json(), again.json()
    assert hit["chat_output"] == original["chat_output"] and hit["id"] != original["id"]
    for name in ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens"):
        assert hit["metrics"][name] == original["metrics"][name]
    assert original["metrics"]["cost_usd"] > 0 and original["metrics"]["cost_saved_usd"] == 0.0
    assert hit["metrics"]["cost_usd"] == 0.0 and hit["metrics"]["cost_saved_usd"] == original["metrics"]["cost_usd"]
    assert (original["metrics"]["cache"], hit["metrics"]["cache"]) == ("miss", "hit")
    assert hit["metrics"]["latency_s"] < original["metrics"]["latency_s"]  # what the client saw, measured


@pytest.mark.parametrize("path", [CHAT, V1])
def test_a_streamed_hit_sends_the_same_chunks(
    cached: Callable[..., httpx.Client], openai_emulator: OpenAIEmulator, path: str
) -> None:
    client = cached()
    body = ({**BODY, "is_stream": True} if path == CHAT else
            {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "What is a cache?"}], "stream": True})  # fmt: skip
    headers, original, _ = _stream_texts(client, path, body)
    hit_headers, replayed, metrics = _stream_texts(client, path, body)
    assert (headers["x-llmgateway-cache"], hit_headers["x-llmgateway-cache"]) == ("miss", "hit")
    assert replayed == original and len(original) > 1
    assert metrics["cache"] == "hit" and metrics["cost_usd"] == 0.0 and metrics["time_to_first_token_s"] is not None
    assert len(openai_emulator.requests) == 1


def test_a_streamed_tool_call_is_replayed_fragment_by_fragment(
    cached: Callable[..., httpx.Client], openai_emulator: OpenAIEmulator
) -> None:
    client = cached()
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "weather?"}], "tools": [WEATHER_TOOL], "stream": True}

    def fragments() -> list[dict[str, Any]]:
        with client.stream("POST", V1, json=body) as r:
            chunks = [orjson.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
        return [c["choices"][0]["delta"]["tool_calls"] for c in chunks if c.get("choices") and c["choices"][0]["delta"].get("tool_calls")]

    original, replayed = fragments(), fragments()
    assert replayed == original and len(original) > 1
    assert len(openai_emulator.requests) == 1


def test_what_changes_the_answer_changes_the_key(cached: Callable[..., httpx.Client], openai_emulator: OpenAIEmulator) -> None:
    client = cached()
    variants = [
        BODY,
        {**BODY, "parameters": {"max_tokens": 50}},
        {**BODY, "parameters": {"max_tokens": 50, "temperature": 0}},
        {**BODY, "tools": [WEATHER_TOOL]},
        {**BODY, "tools": [WEATHER_TOOL], "tool_choice": "none"},
        {**BODY, "response_format": {"type": "json_object"}},
        {**BODY, "chat_input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is a cache?"}]},
        {**BODY, "model": "gpt-4o"},
        {**BODY, "api_key": "sk-test-emulator-key-0123456789"},  # the client's own key: another tenant
    ]
    statuses = [client.post(CHAT, json=body).headers["x-llmgateway-cache"] for body in variants]
    assert statuses == ["miss"] * len(variants)
    assert [client.post(CHAT, json=body).headers["x-llmgateway-cache"] for body in variants] == ["hit"] * len(variants)
    assert len(openai_emulator.requests) == len(variants)


def test_a_sampled_answer_is_cached_only_when_asked(cached: Callable[..., httpx.Client], openai_emulator: OpenAIEmulator) -> None:
    client = cached()
    sampled = {**BODY, "parameters": {"temperature": 0.7}}
    first = client.post(CHAT, json=sampled)
    assert "x-llmgateway-cache" not in first.headers and "cache" not in first.json()["metrics"]
    asked = {**sampled, "cache": {"any_temperature": True}}
    assert [client.post(CHAT, json=asked).headers["x-llmgateway-cache"] for _ in range(2)] == ["miss", "hit"]
    configured = cached(cache_any_temperature=True)
    other = {**sampled, "chat_input": "another question"}
    assert [configured.post(CHAT, json=other).headers["x-llmgateway-cache"] for _ in range(2)] == ["miss", "hit"]


def test_request_options_no_cache_no_store_and_ttl(cached: Callable[..., httpx.Client], openai_emulator: OpenAIEmulator) -> None:
    client = cached()
    assert client.post(CHAT, json={**BODY, "cache": {"no_store": True}}).headers["x-llmgateway-cache"] == "miss"
    assert client.post(CHAT, json=BODY).headers["x-llmgateway-cache"] == "miss"  # nothing was stored
    assert client.post(CHAT, json={**BODY, "cache": {"no_cache": True}}).headers["x-llmgateway-cache"] == "bypass"
    assert client.post(CHAT, json=BODY).headers["x-llmgateway-cache"] == "hit"
    short = {**BODY, "chat_input": "short-lived", "cache": {"ttl": 0.2}}
    assert client.post(CHAT, json=short).headers["x-llmgateway-cache"] == "miss"
    time.sleep(0.5)  # past its TTL
    assert client.post(CHAT, json=short).headers["x-llmgateway-cache"] == "miss"


def test_v1_takes_the_cache_options_in_headers(cached: Callable[..., httpx.Client], openai_emulator: OpenAIEmulator) -> None:
    client = cached()
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    assert client.post(V1, json=body, headers={"x-llmgateway-cache-no-store": "true"}).headers["x-llmgateway-cache"] == "miss"
    assert client.post(V1, json=body).headers["x-llmgateway-cache"] == "miss"
    assert client.post(V1, json=body, headers={"x-llmgateway-cache-no-cache": "true"}).headers["x-llmgateway-cache"] == "bypass"
    assert client.post(V1, json=body).headers["x-llmgateway-cache"] == "hit"
    bad = client.post(V1, json=body, headers={"x-llmgateway-cache-ttl": "-1"})
    assert bad.status_code == 422 and bad.json()["error"]["message"].startswith("x-llmgateway-cache-ttl: ")


def test_failed_and_cancelled_answers_are_never_stored(
    cached: Callable[..., httpx.Client], openai_emulator: OpenAIEmulator
) -> None:
    client = cached()
    openai_emulator.faults.append(Fault("midstream_error", after_chunks=2))
    broken = client.post(CHAT, json={**BODY, "is_stream": True})
    assert "error" in broken.text
    assert client.post(CHAT, json=BODY).headers["x-llmgateway-cache"] == "miss"  # the broken one was not kept

    left = {**BODY, "chat_input": "a client that leaves", "is_stream": True}
    openai_emulator.chunk_delay_s = 0.2
    with client.stream("POST", CHAT, json=left) as r:
        next(r.iter_lines())  # the first chunk, then the client goes
    openai_emulator.chunk_delay_s = 0.0
    wait_until(lambda: len(client.get("/api/tracking/logs", params={"status": "cancelled"}).json()) >= 1,
               "the cancelled call was not recorded")  # fmt: skip
    assert client.post(CHAT, json={**left, "is_stream": False}).headers["x-llmgateway-cache"] == "miss"


def test_hits_are_recorded_counted_and_purged(cached: Callable[..., httpx.Client], openai_emulator: OpenAIEmulator) -> None:
    client = cached()
    cost = client.post(CHAT, json=BODY).json()["metrics"]["cost_usd"]
    key = client.post(CHAT, json=BODY).headers["x-llmgateway-cache-key"]
    client.post(CHAT, json=BODY)
    (openai_row,) = client.get("/api/tracking/stats").json()
    assert openai_row["cache_hits"] == 2 and openai_row["cache_hit_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert openai_row["cost_saved_usd"] == pytest.approx(2 * cost)
    logs = client.get("/api/tracking/logs").json()
    assert sorted(row["cache"] for row in logs) == ["hit", "hit", "miss"]
    assert sorted(row["cost_saved_usd"] for row in logs) == pytest.approx([0.0, cost, cost])
    metrics = client.get("/metrics").text
    assert 'llmgateway_cache_requests_total{result="hit"} 2.0' in metrics
    assert 'llmgateway_cache_requests_total{result="miss"} 1.0' in metrics
    assert client.delete("/api/admin/cache", params={"key": key}).json() == {"purged": 1}
    assert client.post(CHAT, json=BODY).headers["x-llmgateway-cache"] == "miss"
    client.post(CHAT, json={**BODY, "chat_input": "another"})
    assert client.delete("/api/admin/cache").json() == {"purged": 2}
    assert client.post(CHAT, json=BODY).headers["x-llmgateway-cache"] == "miss"


def test_purging_a_cache_that_is_off_is_a_clear_400(client: httpx.Client) -> None:
    r = client.delete("/api/admin/cache")
    assert r.status_code == 400 and r.json()["error"]["type"] == "cache_off"
    assert "x-llmgateway-cache" not in client.post(CHAT, json=BODY).headers


def test_two_instances_share_hits_through_redis(
    gateway_factory: Callable[..., str], redis_server: RedisServer, openai_emulator: OpenAIEmulator
) -> None:
    one, other = (gateway_factory(cache="redis", redis_url=redis_server.url) for _ in range(2))
    assert httpx.post(f"{one}{CHAT}", json=BODY).headers["x-llmgateway-cache"] == "miss"
    # The answer is stored after it is sent (the client never waits for the cache): once in Redis,
    # the other instance answers from it.
    with redis.Redis.from_url(redis_server.url) as shared:
        wait_until(lambda: any(shared.scan_iter(match="*:cache:*")), "the answer never reached Redis")
    assert httpx.post(f"{other}{CHAT}", json=BODY).headers["x-llmgateway-cache"] == "hit"
    assert len(openai_emulator.requests) == 1


def test_redis_down_is_a_bypass_never_a_failure(
    gateway_factory: Callable[..., str], redis_server: RedisServer, openai_emulator: OpenAIEmulator
) -> None:
    url = gateway_factory(cache="redis", redis_url=redis_server.url)
    assert httpx.post(f"{url}{CHAT}", json=BODY).headers["x-llmgateway-cache"] == "miss"
    redis_server.stop()
    for body in (BODY, {**BODY, "is_stream": True}):
        r = httpx.post(f"{url}{CHAT}", json=body, timeout=30)
        assert r.status_code == 200 and r.headers["x-llmgateway-cache"] == "bypass"
    assert len(openai_emulator.requests) == 3


async def test_the_memory_store_keeps_to_its_byte_bound_least_recent_first() -> None:
    now = [0.0]
    store = MemoryCacheStore(max_bytes=10, clock=lambda: now[0])
    await store.set("a", b"aaaa", 60)
    await store.set("b", b"bbbb", 60)
    assert await store.get("a") == b"aaaa"  # a is now the most recent
    await store.set("c", b"cccc", 60)  # 12 bytes: the least recent (b) goes
    assert (await store.get("b"), await store.get("a"), await store.get("c")) == (None, b"aaaa", b"cccc")
    assert store.bytes == 8
    await store.set("big", b"x" * 11, 60)  # larger than the bound: not kept, nothing evicted
    assert await store.get("big") is None and store.bytes == 8
    now[0] = 61.0
    assert await store.get("a") is None and store.bytes == 4  # expired, and its bytes returned


def test_an_answer_survives_encoding_event_for_event() -> None:
    events = [(0.0, ResponseInfo("m", "r1", "fp", None)), (0.1, TextDelta("Hel")), (0.15, TextDelta("lo")),
              (0.2, ToolCallDelta(0, "call_1", "f", '{"a"')), (0.21, ToolCallDelta(0, None, None, ": 1}")),
              (0.3, Finish("tool_calls")), (0.3, Usage(5, 7, 1, 2, 3))]  # fmt: skip
    decoded = decode_answer(encode_answer(CachedAnswer(events, 1.5e-5)))
    assert decoded == CachedAnswer(events, 1.5e-5)
    assert decode_answer(b'{"format": 0, "events": []}') is None and decode_answer(b"not json") is None


def test_the_default_ttl_comes_from_the_settings(gateway_factory: Callable[..., str], openai_emulator: OpenAIEmulator) -> None:
    url = gateway_factory(cache="memory", cache_ttl_s=0.2)
    assert httpx.post(f"{url}{CHAT}", json=BODY).headers["x-llmgateway-cache"] == "miss"
    assert httpx.post(f"{url}{CHAT}", json=BODY).headers["x-llmgateway-cache"] == "hit"
    time.sleep(0.5)  # past the default TTL
    assert httpx.post(f"{url}{CHAT}", json=BODY).headers["x-llmgateway-cache"] == "miss"


def test_the_memory_cache_takes_its_bound_from_the_settings(
    gateway_factory: Callable[..., str], openai_emulator: OpenAIEmulator
) -> None:
    url = gateway_factory(cache="memory", cache_max_bytes=100)  # smaller than any answer
    for expected in ("miss", "miss"):
        assert httpx.post(f"{url}{CHAT}", json=BODY).headers["x-llmgateway-cache"] == expected
