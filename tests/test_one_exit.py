"""One exit: every request, whatever happens to it, has exactly one outcome and one record,
every observer counts it once, and nothing is left in flight.

A bounded fuzz sends generated bodies of every shape to every provider's route through the
real server and the emulators: no 5xx but the typed upstream ones, every request recorded
once, `llmgateway_requests_in_flight` back to 0. Then a mixed run whose counts must agree
across Prometheus, `/stats` and the request log.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Callable

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import SSE
from tests.emulators.openai import Fault, OpenAIEmulator

MODELS = {
    "openai": "gpt-4o-mini", "azure": "my-deployment", "anthropic": "claude-sonnet-4-5", "google": "gemini-2.5-flash",
    "vertexai": "gemini-2.5-pro", "ollama": "llama3.2", "bedrock": "anthropic.claude-sonnet-4-5-20250929-v1:0",
}  # fmt: skip
TYPED_5XX = {"upstream_server_error", "upstream_unavailable", "upstream_timeout", "upstream_stream_error",
             "upstream_protocol_error", "upstream_incomplete"}  # fmt: skip

JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=12)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)),
    max_leaves=8,
)
PART = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.one_of(st.text(max_size=20), JSON)}),
    st.fixed_dictionaries({"type": st.just("image_url"), "image_url": st.one_of(JSON, st.fixed_dictionaries(
        {"url": st.sampled_from(["https://example.com/a.png", "data:image/png;base64,iVBORw0KGgo=", "data:,x", ""])}))}),
    st.dictionaries(st.sampled_from(["type", "text", "image_url", "input_audio"]), JSON, max_size=3),
)  # fmt: skip
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "developer", "robot"])},
    optional={"content": st.one_of(st.text(max_size=20), st.lists(PART, max_size=3), JSON), "tool_calls": JSON,
              "tool_call_id": st.one_of(st.text(max_size=8), JSON), "name": JSON},
)  # fmt: skip


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    provider = draw(st.sampled_from(sorted(MODELS)))
    body: dict[str, Any] = {
        "model": draw(st.one_of(st.just(MODELS[provider]), st.text(max_size=12), JSON)),
        "chat_input": draw(st.one_of(st.text(max_size=30), st.lists(MESSAGE, max_size=4), JSON)),
    }
    optional = {
        "parameters": st.one_of(st.dictionaries(st.sampled_from(["temperature", "max_tokens", "top_p", "stop", "seed",
                                                                 "logit_bias", "thinking", "foo"]), JSON, max_size=3), JSON),
        "tools": st.one_of(JSON, st.lists(st.fixed_dictionaries({"type": st.just("function"), "function": st.fixed_dictionaries(
            {"name": st.sampled_from(["get_weather", "", "x" * 80])}, optional={"parameters": JSON})}), max_size=2)),
        "tool_choice": st.one_of(st.sampled_from(["auto", "none", "required", "any"]), JSON),
        "response_format": st.one_of(JSON, st.fixed_dictionaries({"type": st.sampled_from(["json_object", "json_schema", "text", "yaml"])},
                                                                 optional={"json_schema": JSON})),
        "is_stream": st.booleans(),
        "session_id": st.one_of(st.text(max_size=10), JSON),
    }  # fmt: skip
    for name, strategy in optional.items():
        if draw(st.booleans()):
            body[name] = draw(strategy)
    return provider, body


@pytest.fixture
def every_provider(request: pytest.FixtureRequest) -> None:
    for fixture in ("azure_emulator", "anthropic_emulator", "gemini_emulator", "vertex_emulator", "ollama_emulator",
                    "bedrock_emulator"):  # fmt: skip
        request.getfixturevalue(fixture)


def assert_each_recorded_once(url: str, requests: int) -> None:
    """Every request sent is in the log exactly once (waiting for the writer), none in flight."""
    deadline = time.monotonic() + 20
    while (stored := len(httpx.get(f"{url}/api/tracking/logs", params={"limit": 1000}).json())) < requests:
        assert time.monotonic() < deadline, (stored, requests)
        time.sleep(0.1)
    assert stored == requests
    assert in_flight(url) == 0.0


def in_flight(url: str) -> float:
    match = re.search(r"^llmgateway_requests_in_flight ([0-9.]+)$", httpx.get(f"{url}/metrics").text, re.MULTILINE)
    assert match is not None
    return float(match.group(1))


@pytest.mark.slow
def test_generated_bodies_never_get_an_untyped_5xx(gateway_factory: Callable[..., str], every_provider: None) -> None:
    url = gateway_factory(tracking_flush_interval_s=0.01)
    sent: list[tuple[str, int]] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(example=bodies())
    def one(example: tuple[str, dict[str, Any]]) -> None:
        provider, body = example
        import json

        try:
            content = json.dumps(body, allow_nan=True).encode()
        except (ValueError, RecursionError):
            return
        r = httpx.post(f"{url}/api/engine/chat/{provider}", content=content, timeout=60,
                       headers={"content-type": "application/json", **SSE})  # fmt: skip
        sent.append((provider, r.status_code))
        if r.status_code >= 500:
            assert r.json()["error"]["type"] in TYPED_5XX, (provider, body, r.text)
        if r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"):
            assert r.text.endswith("data: [DONE]\n\n") or "event: error" in r.text, r.text[-500:]

    one()
    assert len(sent) > 50
    assert_each_recorded_once(url, len(sent))
    assert any(status == 200 for _, status in sent) and any(status == 422 for _, status in sent)


# A stream's mangling: (event index, operation, a JSON value, a choice of key). Operations:
# drop the event, stop the stream there, replace the payload, or set/delete one of its keys,
# at the top or one level down.
MANGLE_OPERATIONS = ("drop", "truncate", "replace", "set", "delete", "set_nested", "delete_nested")
MANGLES = st.lists(st.tuples(st.integers(0, 12), st.sampled_from(MANGLE_OPERATIONS), JSON, st.integers(0, 7)),
                   min_size=1, max_size=3)  # fmt: skip
EMULATOR_OF = {"openai": "openai_emulator", "azure": "azure_emulator", "anthropic": "anthropic_emulator",
               "google": "gemini_emulator", "vertexai": "vertex_emulator", "ollama": "ollama_emulator",
               "bedrock": "bedrock_emulator"}  # fmt: skip


def _mangler(program: list[tuple[int, str, Any, int]]) -> Callable[[int, Any], Any]:
    from tests.emulators.base import DROP, TRUNCATE

    def mangle(index: int, payload: Any) -> Any:
        for at, operation, value, choice in program:
            if at != index:
                continue
            if operation in ("drop", "truncate"):
                return DROP if operation == "drop" else TRUNCATE
            if operation == "replace" or not isinstance(payload, dict) or not payload:
                return value
            target = payload
            if operation.endswith("_nested"):
                nested = [v for v in payload.values() if isinstance(v, dict) and v]
                target = nested[choice % len(nested)] if nested else payload
            key = sorted(target)[choice % len(target)]
            if operation.startswith("set"):
                target[key] = value
            else:
                del target[key]
        return payload

    return mangle


@pytest.mark.slow
@pytest.mark.parametrize("provider", sorted(MODELS))
def test_generated_upstream_streams_never_get_an_untyped_5xx(
    provider: str, gateway_factory: Callable[..., str], request: pytest.FixtureRequest
) -> None:
    """Each adapter, fed through its vendor's real framing a stream with odd types, missing
    fields, dropped events or a truncation: a typed answer, one record, nothing in flight."""
    url = gateway_factory(tracking_flush_interval_s=0.01)
    emulator = request.getfixturevalue(EMULATOR_OF[provider])
    sent: list[int] = []

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(program=MANGLES, stream=st.booleans())
    @example(program=[(99, "drop", None, 0)], stream=False)  # nothing mangled: a plain answer
    @example(program=[(1, "truncate", None, 0)], stream=True)  # cut short: an error event
    @example(program=[(1, "truncate", None, 0)], stream=False)  # cut short: a typed 502, whatever else is drawn
    def one(program: list[tuple[int, str, Any, int]], stream: bool) -> None:
        emulator.faults.clear()
        emulator.faults.append(Fault("mangle", mangle=_mangler(program)))
        body = {"model": MODELS[provider], "chat_input": "hi", "is_stream": stream}
        r = httpx.post(f"{url}/api/engine/chat/{provider}", json=body, timeout=60, headers=SSE)
        sent.append(r.status_code)
        if r.status_code >= 500:
            assert r.json()["error"]["type"] in TYPED_5XX, (program, r.text)
        elif stream and r.status_code == 200:
            assert r.text.endswith("data: [DONE]\n\n") or "event: error" in r.text, (program, r.text[-500:])
        else:
            assert r.status_code == 200, (program, r.text)

    one()
    assert_each_recorded_once(url, len(sent))
    assert 200 in sent and 502 in sent


USAGE_FIELD = {"openai": ("usage", "completion_tokens"), "google": ("usageMetadata", "candidatesTokenCount"),
               "anthropic": ("usage", "output_tokens"), "ollama": (None, "eval_count")}  # fmt: skip


def _negative_count(provider: str) -> Callable[[int, Any], Any]:
    """A mangle that puts -1 in the vendor's count of output tokens, wherever it comes."""
    container, field = USAGE_FIELD[provider]

    def mangle(_index: int, payload: Any) -> Any:
        for holder in (payload, *(v for v in payload.values() if isinstance(v, dict))) if isinstance(payload, dict) else ():
            usage = holder if container is None else holder.get(container)
            if isinstance(usage, dict) and field in usage:
                usage[field] = -1
        return payload

    return mangle


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", sorted(USAGE_FIELD))
def test_a_negative_token_count_is_an_unreadable_answer(
    provider: str, stream: bool, gateway_factory: Callable[..., str], request: pytest.FixtureRequest
) -> None:
    """A vendor's count below zero is a typed 502 (or an error event) and one error record,
    never a 500 from a metric that cannot run backwards, nor a negative cost."""
    url = gateway_factory(tracking_flush_interval_s=0.01)
    emulator = request.getfixturevalue(EMULATOR_OF[provider])
    emulator.faults.append(Fault("mangle", mangle=_negative_count(provider)))
    r = httpx.post(f"{url}/api/engine/chat/{provider}", json={"model": MODELS[provider], "chat_input": "hi", "is_stream": stream},
                   headers=SSE, timeout=30)  # fmt: skip
    if stream:
        assert r.status_code == 200 and '"upstream_protocol_error"' in r.text.rstrip().split("\n\n")[-1], r.text[-300:]
    else:
        assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_protocol_error", r.text
    assert_each_recorded_once(url, 1)
    (record,) = httpx.get(f"{url}/api/tracking/logs").json()
    assert record["status"] == "error" and record["error_type"] == "upstream_protocol_error"


def _prometheus_requests(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(float(m.group(1)) for m in re.finditer(r"^llmgateway_requests_total\{[^}]*\} ([0-9.e+]+)$", text, re.MULTILINE))


def test_prometheus_stats_and_the_log_count_the_same_requests(
    gateway_factory: Callable[..., str], openai_emulator: OpenAIEmulator
) -> None:
    url = gateway_factory()
    with httpx.Client(base_url=url, timeout=30) as c:
        chat = "/api/engine/chat/openai"
        assert c.post(chat, json={"model": "gpt-4o-mini", "chat_input": "ok"}).status_code == 200
        assert c.post("/api/engine/chat/nope", json={"model": "m", "chat_input": "x"}).status_code == 404  # refused
        assert c.post(chat, json={"model": "gpt-4o-mini", "chat_input": {"not": "valid"}}).status_code == 422
        assert c.post(chat, content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
        openai_emulator.faults.append(Fault("status", status=500))
        assert c.post(chat, json={"model": "gpt-4o-mini", "chat_input": "vendor fails"}).status_code == 502
        assert c.post("/v1/embeddings", json={"model": "openai/text-embedding-3-small", "input": "x"}).status_code == 200
        openai_emulator.chunk_delay_s = 0.05
        with c.stream("POST", chat, headers=SSE, json={"model": "gpt-4o-mini", "chat_input": "leave", "is_stream": True}) as s:
            for line in s.iter_lines():
                if '"chat_output_stream":"Hello!"' in line:
                    break  # the client leaves mid-stream: cancelled
        deadline = time.monotonic() + 10
        while len(logs := c.get("/api/tracking/logs").json()) < 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = c.get("/api/tracking/stats").json()
    assert len(logs) == 7
    assert sorted(row["status"] for row in logs) == ["cancelled", "error", "error", "error", "error", "success", "success"]
    assert sum(group["requests"] for group in stats) == 7
    assert _prometheus_requests(url) == 7
    assert in_flight(url) == 0.0


def test_an_error_before_any_output_costs_nothing(gateway_url: str, openai_emulator: OpenAIEmulator) -> None:
    r = httpx.post(f"{gateway_url}/api/engine/chat/openai",
                   json={"model": "gpt-4o-mini", "chat_input": "x" * 5000, "api_key": "sk-wrong-0123456789"})  # fmt: skip
    assert r.status_code == 401
    time.sleep(0.2)
    row = httpx.get(f"{gateway_url}/api/tracking/logs").json()[0]
    assert row["status"] == "error"
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"], row["tokens_estimated"]) == (0, 0, 0.0, False)


def test_a_stream_that_stops_without_a_finish_is_an_incomplete_error(gateway_url: str, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.append(Fault("truncated", after_chunks=3))
    r = httpx.post(f"{gateway_url}/api/engine/chat/openai", json={"model": "gpt-4o-mini", "chat_input": "hi"})
    assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_incomplete"
    time.sleep(0.2)
    row = httpx.get(f"{gateway_url}/api/tracking/logs").json()[0]
    assert row["status"] == "error" and row["error_type"] == "upstream_incomplete"
    assert row["chat_output"] == "Hello! I am"  # the partial output, kept
    assert row["tokens_estimated"] is True and row["output_tokens"] > 0


def test_backoff_never_sleeps_past_the_deadline(gateway_factory: Callable[..., str], openai_emulator: OpenAIEmulator) -> None:
    """A Retry-After longer than the time left moves on to the fallback at once."""
    url = gateway_factory(retry_backoff_max_s=60)
    openai_emulator.faults.append(Fault("status", status=429, headers={"Retry-After": "30"}))
    body = {"model": "gpt-4o-mini", "chat_input": "hi", "retries": 2, "timeout": 5, "fallbacks": ["openai/gpt-4o"]}
    r = httpx.post(f"{url}/api/engine/chat/openai", json=body, timeout=60)
    # a 30 s sleep would have run past the 5 s deadline (a 504): the fallback served instead
    assert r.status_code == 200, r.text
    assert [b["model"] for b in openai_emulator.requests] == ["gpt-4o-mini", "gpt-4o"]


@pytest.mark.parametrize("route", ["engine", "engine-stream", "v1"])
def test_a_client_that_leaves_before_the_first_byte_cancels_the_upstream_call(
    route: str, gateway_url: str, openai_emulator: OpenAIEmulator
) -> None:
    openai_emulator.chunk_delay_s = 0.3  # 12 chunks: about 4 s upstream
    openai_emulator.faults.append(Fault("hang", seconds=30))  # and nothing at all for the first 30 s
    path, body = {
        "engine": ("/api/engine/chat/openai", {"model": "gpt-4o-mini", "chat_input": "hi"}),
        "engine-stream": ("/api/engine/chat/openai", {"model": "gpt-4o-mini", "chat_input": "hi", "is_stream": True}),
        "v1": ("/v1/chat/completions", {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
    }[route]

    async def leave_once_the_upstream_answers() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            asking = asyncio.create_task(client.post(f"{gateway_url}{path}", json=body))
            deadline = time.monotonic() + 10
            while openai_emulator.streaming == 0:  # the upstream has begun, and then hangs
                assert time.monotonic() < deadline and not asking.done()
                await asyncio.sleep(0.01)
            asking.cancel()  # the client gives up, and its connection is closed
            with pytest.raises(asyncio.CancelledError):
                await asking

    asyncio.run(leave_once_the_upstream_answers())
    deadline = time.monotonic() + 10
    while openai_emulator.closed_early == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert openai_emulator.closed_early == 1  # the upstream saw the gateway leave
    while not (logs := httpx.get(f"{gateway_url}/api/tracking/logs").json()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [row["status"] for row in logs] == ["cancelled"]
    assert in_flight(gateway_url) == 0.0


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google", "ollama", "bedrock"])
def test_a_client_that_leaves_mid_stream_closes_the_upstream_stream(
    provider: str, request: pytest.FixtureRequest, gateway_url: str
) -> None:
    """Every adapter closes its upstream response when the consumer stops early."""
    fixture = {"openai": "openai_emulator", "anthropic": "anthropic_emulator", "google": "gemini_emulator",
               "ollama": "ollama_emulator", "bedrock": "bedrock_emulator"}[provider]  # fmt: skip
    emulator = request.getfixturevalue(fixture)
    emulator.chunk_delay_s = 0.2  # 12 pieces: over 2 s upstream
    body = {"model": MODELS[provider], "chat_input": "hi", "is_stream": True}
    with httpx.Client(timeout=30) as c, c.stream("POST", f"{gateway_url}/api/engine/chat/{provider}", json=body) as r:
        for line in r.iter_lines():
            if '"chat_output_stream":"Hello!"' in line:
                break  # the first words arrived: leave
    deadline = time.monotonic() + 10
    while emulator.closed_early == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert emulator.closed_early == 1
    while not (logs := httpx.get(f"{gateway_url}/api/tracking/logs").json()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [row["status"] for row in logs] == ["cancelled"]


def test_embeddings_take_the_one_pipeline(gateway_factory: Callable[..., str], openai_emulator: OpenAIEmulator) -> None:
    """Embeddings are retried, recorded with their attempts, counted by Prometheus and the
    request log alike, and release their in-flight count, on success and on failure."""
    url = gateway_factory(default_retries=1, retry_backoff_base_s=0.01)
    openai_emulator.faults.append(Fault("status", status=503))
    ok = httpx.post(f"{url}/v1/embeddings", json={"model": "openai/text-embedding-3-small", "input": "two words"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    openai_emulator.faults.extend([Fault("status", status=503), Fault("status", status=503)])
    failed = httpx.post(f"{url}/v1/embeddings", json={"model": "openai/text-embedding-3-small", "input": "again"})
    assert failed.status_code == 502 and failed.json()["error"]["type"] == "upstream_server_error"
    assert len(openai_emulator.requests) == 4  # each request: one attempt and one retry
    deadline = time.monotonic() + 5
    while len(logs := httpx.get(f"{url}/api/tracking/logs").json()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    by_status = {row["status"]: row for row in logs}
    assert [len(by_status[s]["attempts"]) for s in ("success", "error")] == [1, 2]
    assert by_status["success"]["input_tokens"] == 2 and by_status["success"]["finish_reason"] == "embedding"
    failure = by_status["error"]
    assert (failure["error_type"], failure["http_status"], failure["input_tokens"], failure["cost_usd"]) == (
        "upstream_server_error", 502, 0, 0.0)
    metrics = httpx.get(f"{url}/metrics").text
    assert 'llmgateway_requests_total{model="text-embedding-3-small",provider="openai",status="success"} 1.0' in metrics
    assert 'llmgateway_requests_total{model="text-embedding-3-small",provider="openai",status="error"} 1.0' in metrics
    assert in_flight(url) == 0.0
