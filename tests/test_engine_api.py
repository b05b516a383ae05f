"""The engine API end to end: gateway on a socket, OpenAI emulator upstream, real SDK between."""

from __future__ import annotations

from typing import Any, Callable

import httpx
import orjson
import pytest

from tests.conftest import SSE, free_port
from tests.emulators.openai import DEFAULT_REPLY, VALID_KEY, Fault, OpenAIEmulator

CHAT = "/api/engine/chat/openai"

# Every key of the reference response, and the type the reference gives it.
REFERENCE_KEYS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "choices": (list,),
    "created": (int,),
    "model": (str,),
    "object": (str,),
    "system_fingerprint": (str, type(None)),
    "usage": (dict, type(None)),
    "session_id": (str, type(None)),
    "chat_input": (str,),
    "chat_output": (str,),
    "context": (list,),
    "provider": (str,),
    "timestamp": (float,),
    "parameters": (dict,),
    "metrics": (dict,),
}
REFERENCE_METRICS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost_usd",
    "latency_s",
    "time_to_first_token_s",
    "inter_token_latency_s",
    "tokens_per_second",
)


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """(event name, data) pairs of an SSE body; `[DONE]` kept as the string."""
    events = []
    for block in text.strip().split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        payload = "\n".join(data)
        events.append((name, payload if payload == "[DONE]" else orjson.loads(payload)))
    return events


def test_non_streaming_answer_has_every_reference_key(client: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.chunk_delay_s = 0.005
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "Hello! Who are you?"})
    assert r.status_code == 200, r.text
    body = r.json()
    for key, types in REFERENCE_KEYS.items():
        assert key in body, key
        assert isinstance(body[key], types), (key, body[key])
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["index"] == 0 and choice["logprobs"] is None
    assert choice["message"] == {
        "content": DEFAULT_REPLY,
        "role": "assistant",
        "function_call": None,
        "tool_calls": None,
    }
    assert body["object"] == "chat.completion"
    assert body["chat_input"] == "Hello! Who are you?"
    assert body["chat_output"] == DEFAULT_REPLY
    assert body["context"] == [{"role": "user", "content": "Hello! Who are you?"}]
    assert body["provider"] == "openai"
    assert body["model"] == "gpt-4o-mini" and body["deployment"] == "gpt-4o-mini-2024-07-18"  # asked for; served
    assert body["parameters"]["temperature"] == 1.0
    metrics = body["metrics"]
    for key in REFERENCE_METRICS + ("cached_tokens", "reasoning_tokens"):
        assert key in metrics, key
    # counts are the vendor's: the emulator reports 12 completion tokens for 12 pieces
    assert body["usage"]["completion_tokens"] == metrics["output_tokens"] == 12
    assert metrics["input_tokens"] == body["usage"]["prompt_tokens"]
    assert metrics["total_tokens"] == metrics["input_tokens"] + metrics["output_tokens"]
    assert metrics["tokens_estimated"] is False
    # the dated snapshot takes gpt-4o-mini's price: 0.15 $/M input, 0.60 $/M output
    expected_cost = metrics["input_tokens"] * 0.15e-6 + metrics["output_tokens"] * 0.60e-6
    assert metrics["cost_usd"] == pytest.approx(expected_cost)
    assert 0 < metrics["time_to_first_token_s"] < metrics["latency_s"]
    assert metrics["inter_token_latency_s"] >= 0.004  # the emulator waits 5 ms between chunks
    generation = metrics["latency_s"] - metrics["time_to_first_token_s"]
    assert metrics["tokens_per_second"] == pytest.approx(metrics["output_tokens"] / generation)


def test_gateway_always_streams_upstream_with_usage(client: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    r = client.post(
        CHAT,
        json={"model": "gpt-4o-mini", "chat_input": "hi", "parameters": {"max_tokens": 5, "temperature": 0.2, "seed": 7}},
    )
    assert r.status_code == 200
    sent = openai_emulator.requests[-1]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["max_completion_tokens"] == 5 and "max_tokens" not in sent
    assert sent["temperature"] == 0.2 and sent["seed"] == 7
    assert r.json()["choices"][0]["finish_reason"] == "length"
    assert r.json()["parameters"]["max_tokens"] == 5


def test_streaming_sends_text_as_generated_then_metrics(client: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    with client.stream("POST", CHAT, headers=SSE, json={"model": "gpt-4o-mini", "chat_input": "Hi", "is_stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(r.read().decode())
    assert events[-1] == ("message", "[DONE]")
    chunks = [data for _, data in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" and "chat_output_stream" in c for c in chunks)
    assert "".join(c["chat_output_stream"] for c in chunks) == DEFAULT_REPLY
    final = chunks[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["metrics"]["output_tokens"] == 12 and final["usage"]["completion_tokens"] == 12
    assert final["chat_output"] == DEFAULT_REPLY
    assert all(c["metrics"] is None and c["chat_output"] is None for c in chunks[:-1])


def test_streamed_text_arrives_before_the_answer_ends(gateway_url: str, openai_emulator: OpenAIEmulator) -> None:
    """The first text reaches the client long before the upstream finishes."""
    import time

    openai_emulator.chunk_delay_s = 0.05
    with httpx.Client(base_url=gateway_url, timeout=30) as c:
        started = time.monotonic()
        with c.stream("POST", CHAT, headers=SSE, json={"model": "gpt-4o-mini", "chat_input": "Hi", "is_stream": True}) as r:
            first_text_at = None
            for line in r.iter_lines():
                if line.startswith("data: {") and orjson.loads(line[6:])["chat_output_stream"]:
                    first_text_at = first_text_at or time.monotonic() - started
            total = time.monotonic() - started
    assert first_text_at is not None and first_text_at < total / 2


def test_conversation_with_system_prompt_and_content_parts(client: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    chat_input = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": [{"type": "text", "text": "Look at "}, {"type": "text", "text": "this"}]},
    ]
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": chat_input})
    assert r.status_code == 200, r.text
    assert r.json()["chat_input"] == "Look at this"
    assert r.json()["context"] == chat_input
    assert openai_emulator.requests[-1]["messages"] == chat_input


def test_tool_calls_streamed_and_assembled(client: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "Weather in Paris?", "tools": tools})
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [
        {"id": "call_emulated_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'}}
    ]
    assert openai_emulator.requests[-1]["tools"] == tools
    metrics = r.json()["metrics"]
    assert metrics["time_to_first_token_s"] is not None  # a tool-call fragment is output

    with client.stream("POST", CHAT, headers=SSE, json={"model": "gpt-4o-mini", "chat_input": "Weather?", "tools": tools, "is_stream": True}) as s:
        chunks = [d for _, d in parse_sse(s.read().decode())[:-1]]
    fragments = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
    assert fragments[0]["id"] == "call_emulated_1" and fragments[0]["function"]["name"] == "get_weather"
    assert "".join(f["function"]["arguments"] for f in fragments) == '{"location":"Paris"}'


def test_parallel_tool_calls_are_assembled_by_index(client: httpx.Client) -> None:
    tools = [{"type": "function", "function": {"name": name}} for name in ("get_weather", "get_time")]
    body = {"model": "gpt-4o-mini", "chat_input": "Weather and time?", "tools": tools}
    calls = client.post(CHAT, json=body).json()["choices"][0]["message"]["tool_calls"]
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("call_emulated_1", "get_weather", '{"location":"Paris"}'),
        ("call_emulated_2", "get_time", '{"location":"Paris"}'),
    ]
    with client.stream("POST", CHAT, headers=SSE, json={**body, "is_stream": True}) as r:
        chunks = [d for _, d in parse_sse(r.read().decode())[:-1]]
    arguments: dict[int, str] = {}
    for chunk in chunks:
        for fragment in chunk["choices"][0]["delta"].get("tool_calls", ()):
            arguments[fragment["index"]] = arguments.get(fragment["index"], "") + fragment["function"]["arguments"]
    assert arguments == {0: '{"location":"Paris"}', 1: '{"location":"Paris"}'}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_unknown_model_is_served_with_unknown_price(client: httpx.Client) -> None:
    r = client.post(CHAT, json={"model": "my-finetune", "chat_input": "hi"})
    assert r.status_code == 200
    metrics = r.json()["metrics"]
    assert metrics["cost_usd"] is None and metrics["price_known"] is False
    assert metrics["output_tokens"] == 12


def test_counts_are_estimated_and_flagged_when_the_vendor_reports_none(
    client: httpx.Client, openai_emulator: OpenAIEmulator
) -> None:
    openai_emulator.faults.append(Fault("no_usage"))
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "Hello! Who are you?"})
    metrics = r.json()["metrics"]
    assert metrics["tokens_estimated"] is True
    # o200k_base (as tiktoken encodes it): the reply is 16 tokens;
    # the prompt 3 (reply priming) + 3 (message) + 1 (role "user") + 6 (its text)
    assert metrics["output_tokens"] == 16
    assert metrics["input_tokens"] == 13
    assert metrics["cost_usd"] == pytest.approx(13 * 0.15e-6 + 16 * 0.60e-6)


def test_cached_and_reasoning_tokens_are_reported_and_priced_once(
    client: httpx.Client, openai_emulator: OpenAIEmulator
) -> None:
    openai_emulator.usage_extra = {"cached_tokens": 1000, "reasoning_tokens": 64}
    r = client.post(CHAT, json={"model": "o4-mini", "chat_input": "think"})
    assert r.status_code == 200, r.text
    m = r.json()["metrics"]
    assert m["cached_tokens"] == 1000 and m["reasoning_tokens"] == 64
    assert m["output_tokens"] == 12 + 64
    uncached = m["input_tokens"] - 1000
    assert m["cost_usd"] == pytest.approx(uncached * 1.1e-6 + 1000 * 0.275e-6 + (12 + 64) * 4.4e-6)
    assert r.json()["usage"]["completion_tokens_details"]["reasoning_tokens"] == 64


# -- errors ----------------------------------------------------------------------------------


def test_unknown_provider_is_404_listing_the_valid_ones(client: httpx.Client) -> None:
    r = client.post("/api/engine/chat/nope", json={"model": "x", "chat_input": "hi"})
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "unknown_provider"
    assert "openai" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"chat_input": "hi"}, "model"),
        ({"model": "gpt-4o-mini"}, "chat_input"),
        ({"model": "gpt-4o-mini", "chat_input": "hi", "parameters": {"temperature": 3}}, "parameters.temperature"),
        ({"model": "gpt-4o-mini", "chat_input": "hi", "parameters": {"top_p": "high"}}, "parameters.top_p"),
        ({"model": "gpt-4o-mini", "chat_input": "hi", "parameters": {"stop": ["a", "b", "c", "d", "e"]}}, "parameters.stop"),
        ({"model": "o3", "chat_input": "hi", "parameters": {"temperature": 0.5}}, "parameters.temperature"),
        ({"model": "gpt-4o-mini", "chat_input": [{"role": "robot", "content": "x"}]}, "chat_input"),
        ({"model": "gpt-4o-mini", "chat_input": "hi", "parameters": {"stream": False}}, "parameters.stream"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(client: httpx.Client, body: dict, field: str) -> None:
    r = client.post(CHAT, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"].startswith(field)


def test_malformed_json_is_400(client: httpx.Client) -> None:
    r = client.post(CHAT, content=b'{"model": "gpt-4o-mini", ', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_json"


def test_no_key_anywhere_is_401_naming_the_variable(gateway_factory: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    client = httpx.Client(base_url=gateway_factory(), timeout=30)  # a gateway started after the change
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi"})
    assert r.status_code == 401
    assert "OPENAI_API_KEY" in r.json()["error"]["message"]


def test_key_from_the_body_is_used_and_never_echoed(client: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    bad_key = "sk-proj-WRONGkey1234567890abcdef"
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi", "api_key": bad_key})
    assert r.status_code == 401
    assert openai_emulator.headers[-1]["authorization"] == f"Bearer {bad_key}"
    assert bad_key not in r.text and "WRONGkey" not in r.text
    assert r.json()["error"]["type"] == "upstream_authentication_error"
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi", "api_key": VALID_KEY})
    assert r.status_code == 200 and VALID_KEY not in r.text


def test_body_over_the_limit_is_413(gateway_factory) -> None:
    url = gateway_factory(max_body_bytes=2048)
    r = httpx.post(f"{url}{CHAT}", json={"model": "gpt-4o-mini", "chat_input": "x" * 4096})
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "payload_too_large"

    def chunked():
        yield b'{"model": "gpt-4o-mini", "chat_input": "'
        for _ in range(8):
            yield b"x" * 512
        yield b'"}'

    r = httpx.post(f"{url}{CHAT}", content=chunked(), headers={"content-type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize(
    ("status", "expected", "error_type"),
    [
        (429, 429, "upstream_rate_limited"),
        (403, 403, "upstream_permission_error"),
        (404, 404, "upstream_not_found"),
        (500, 502, "upstream_server_error"),
        (503, 502, "upstream_server_error"),
    ],
)
def test_upstream_errors_keep_their_meaning(
    client: httpx.Client, openai_emulator: OpenAIEmulator, status: int, expected: int, error_type: str
) -> None:
    openai_emulator.faults.append(Fault("status", status=status, message="vendor says no", headers={"retry-after": "7"}))
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi"})
    assert r.status_code == expected
    assert r.json()["error"]["type"] == error_type
    assert "vendor says no" in r.json()["error"]["message"]
    if status == 429:
        assert r.headers["retry-after"] == "7"


def test_retries_recover_from_a_retryable_failure(client: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.extend([Fault("status", status=503), Fault("status", status=429)])
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi", "retries": 2})
    assert r.status_code == 200, r.text
    assert len(openai_emulator.requests) == 3


def test_no_retry_on_client_errors(client: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.append(Fault("status", status=400, message="bad param"))
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi", "retries": 3})
    assert r.status_code == 400
    assert len(openai_emulator.requests) == 1


def test_error_after_the_first_byte_is_an_sse_error_event(client: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.append(Fault("midstream_error", after_chunks=3, message="overloaded"))
    with client.stream("POST", CHAT, headers=SSE, json={"model": "gpt-4o-mini", "chat_input": "Hi", "is_stream": True}) as r:
        assert r.status_code == 200
        events = parse_sse(r.read().decode())
    name, data = events[-1]
    assert name == "error"
    assert data["error"]["type"] == "upstream_stream_error" and "overloaded" in data["error"]["message"]
    assert "".join(d.get("chat_output_stream", "") for _, d in events[:-1]) == "Hello! I am"


def test_upstream_that_stalls_is_cut_at_the_request_timeout(gateway_factory, openai_emulator: OpenAIEmulator) -> None:
    url = gateway_factory(request_timeout_s=0.5)
    openai_emulator.faults.append(Fault("hang", seconds=5))
    r = httpx.post(f"{url}{CHAT}", json={"model": "gpt-4o-mini", "chat_input": "hi"}, timeout=10)
    assert r.status_code == 504
    assert r.json()["error"]["type"] == "upstream_timeout"


def test_unreachable_upstream_is_502(gateway_factory: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    client = httpx.Client(base_url=gateway_factory(), timeout=30)  # a gateway started after the change
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi"})
    assert r.status_code == 502
    assert r.json()["error"]["type"] == "upstream_unavailable"


def test_unknown_route_is_a_json_404(client: httpx.Client) -> None:
    r = client.get("/api/engine/nothing")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"


# -- catalog endpoints -------------------------------------------------------------------------


def test_providers_is_a_plain_list(client: httpx.Client) -> None:
    r = client.get("/api/engine/providers")
    assert r.status_code == 200
    assert isinstance(r.json(), list) and "openai" in r.json()


def test_providers_detail_says_what_is_missing(gateway_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    assert httpx.get(gateway_factory() + "/api/engine/providers?detail=true").json()["openai"] == {
        "name": "OpenAI",
        "ready": True,
        "missing": [],
    }
    monkeypatch.delenv("OPENAI_API_KEY")
    detail = httpx.get(gateway_factory() + "/api/engine/providers?detail=true").json()["openai"]
    assert detail["ready"] is False and detail["missing"] == ["OPENAI_API_KEY"]


def test_vendor_configuration_is_read_once_per_process(client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys and endpoints are resolved at a provider's first use, not per request: a change to
    the environment afterwards reaches no request (it takes a restart)."""
    assert client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi"}).status_code == 200
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("OPENAI_API_KEY")
    assert client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi"}).status_code == 200
    assert client.get("/api/engine/providers?detail=true").json()["openai"]["ready"] is True


def test_models_of_all_providers_and_of_one(client: httpx.Client) -> None:
    everything = client.get("/api/engine/models").json()
    assert everything["openai"]["name"] == "OpenAI"
    assert "gpt-4o-mini" in everything["openai"]["models"]
    one = client.get("/api/engine/models", params={"provider": "openai"}).json()
    assert one == everything["openai"]
    assert client.get("/api/engine/models", params={"provider": "nope"}).status_code == 404


def test_parameters_per_provider_and_model(client: httpx.Client) -> None:
    params = client.get("/api/engine/parameters", params={"provider": "openai"}).json()
    by_id = {p["id"]: p for p in params}
    assert set(by_id["temperature"]) == {"id", "name", "type", "default", "min", "max", "step"}
    assert by_id["temperature"]["min"] == 0.0 and by_id["temperature"]["max"] == 2.0
    reasoning = client.get("/api/engine/parameters", params={"provider": "openai", "model": "o3"}).json()
    assert "temperature" not in {p["id"] for p in reasoning}
    assert client.get("/api/engine/parameters").status_code == 422


def test_health_and_docs(gateway_factory: Callable[..., str]) -> None:
    client = httpx.Client(base_url=gateway_factory(), timeout=30)  # a fresh gateway: nothing queued yet
    health = client.get("/health").json()
    assert health["status"] == "healthy" and "openai" in health["providers"]
    assert health["tracking"]["queue_depth"] == 0 and health["tracking"]["spilled"] == 0
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text
    assert client.get("/docs/assets/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
    assert "/api/engine/chat/{provider}" in client.get("/openapi.json").json()["paths"]


def test_export_turns_results_into_csv(client: httpx.Client) -> None:
    result = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi"}).json()
    r = client.post("/api/export", json=[result, result])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert len(lines) == 3
    header = lines[0].split(",")
    assert "chat_output" in header and "metrics.latency_s" in header and "metrics.cost_usd" in header


@pytest.fixture
def gateway_url(shared_gateway_url: str) -> str:
    """This module's tests share one gateway; a test that changes vendor variables starts its
    own with `gateway_factory` (a gateway reads them once)."""
    return shared_gateway_url


@pytest.mark.parametrize(("provider", "variable", "model", "raised"), [
    # The OpenAI adapter sends on aiohttp: its refused connection is named as aiohttp names it
    ("ollama", "OLLAMA_HOST", "llama3.2", "ConnectError"), ("openai", "OPENAI_BASE_URL", "gpt-4o-mini", "ClientConnectorError"),
])  # fmt: skip
def test_an_unreachable_upstream_is_named_by_its_origin_only(
    gateway_factory: Callable[..., str], monkeypatch: pytest.MonkeyPatch, provider: str, variable: str, model: str, raised: str
) -> None:
    closed = free_port()
    monkeypatch.setenv(variable, f"http://operator:hunter2@127.0.0.1:{closed}/some/path")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-unreachable")
    r = httpx.post(f"{gateway_factory()}/api/engine/chat/{provider}", json={"model": model, "chat_input": "hi", "retries": 0})
    assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_unavailable"
    assert r.json()["error"]["message"] == f"the upstream could not be reached at http://127.0.0.1:{closed}: {raised}"
