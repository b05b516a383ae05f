"""The `mock` provider: real answers, metrics and records without a key or a network."""

from __future__ import annotations

import math
import time

import httpx
import orjson
import pytest

from llmgateway.providers.mock import FIXED_ANSWER
from tests.conftest import SSE

CHAT = "/api/engine/chat/mock"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city", "unit"],
        },
    },
}


@pytest.fixture
def client(shared_gateway_url: str) -> httpx.Client:
    with httpx.Client(base_url=shared_gateway_url, timeout=30) as c:
        yield c


def _logged(client: httpx.Client, request_id: str) -> dict:
    rows = [row for row in client.get("/api/tracking/logs", params={"limit": 500}).json() if row["id"] == request_id]
    assert len(rows) == 1
    return rows[0]


def test_echo_answers_the_user_with_word_tokens_zero_cost_and_a_record(client: httpx.Client) -> None:
    r = client.post(CHAT, json={"model": "echo", "chat_input": "Hello there, mock!"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["chat_output"] == "Hello there, mock!" and body["choices"][0]["finish_reason"] == "stop"
    metrics = body["metrics"]
    assert (metrics["input_tokens"], metrics["output_tokens"], metrics["cost_usd"]) == (3, 3, 0.0)
    assert metrics["price_known"] is True and metrics["tokens_estimated"] is False
    row = _logged(client, body["id"])
    assert row["provider"] == "mock" and row["model"] == "echo" and row["chat_output"] == "Hello there, mock!"


def test_fixed_streams_one_word_a_chunk_paced_as_asked(client: httpx.Client) -> None:
    started = time.monotonic()
    params = {"first_token_s": 0.2, "chunk_gap_s": 0.01}
    with client.stream("POST", CHAT, headers=SSE, json={"model": "fixed", "chat_input": "hi", "is_stream": True,
                                                        "parameters": params}) as r:  # fmt: skip
        chunks = [orjson.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    texts = [c["chat_output_stream"] for c in chunks if c["chat_output_stream"]]
    assert "".join(texts) == FIXED_ANSWER and len(texts) == len(FIXED_ANSWER.split(" "))
    final = chunks[-1]["metrics"]
    assert final["time_to_first_token_s"] >= 0.2  # a lower bound: the mock slept that long
    assert time.monotonic() - started >= 0.2 + 0.01 * (len(texts) - 1)


def test_max_tokens_cuts_the_answer_with_finish_length(client: httpx.Client) -> None:
    r = client.post(CHAT, json={"model": "fixed", "chat_input": "hi", "parameters": {"max_tokens": 3}})
    body = r.json()
    assert body["chat_output"] == " ".join(FIXED_ANSWER.split(" ")[:3])
    assert body["choices"][0]["finish_reason"] == "length" and body["metrics"]["output_tokens"] == 3


@pytest.mark.parametrize(("status", "client_status", "error_type"), [
    (429, 429, "upstream_rate_limited"), (500, 502, "upstream_server_error"), (401, 401, "upstream_authentication_error"),
])  # fmt: skip
def test_error_status_fails_as_that_vendor_status_would(client: httpx.Client, status: int, client_status: int,
                                                       error_type: str) -> None:  # fmt: skip
    r = client.post(CHAT, json={"model": "echo", "chat_input": "x", "parameters": {"error_status": status}})
    assert r.status_code == client_status and r.json()["error"]["type"] == error_type
    client.get("/api/tracking/stats")  # a read waits for the records queued before it
    newest = client.get("/api/tracking/logs", params={"provider": "mock", "status": "error", "limit": 1}).json()[0]
    assert newest["error_type"] == error_type and f"asked to fail with {status}" in newest["error_message"]
    assert newest["metrics"]["cost_usd"] == 0.0


def test_stream_error_after_breaks_the_stream_with_an_error_event(client: httpx.Client) -> None:
    body = {"model": "fixed", "chat_input": "hi", "is_stream": True, "parameters": {"stream_error_after": 2}}
    with client.stream("POST", CHAT, headers=SSE, json=body) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    texts = [orjson.loads(line[6:]).get("chat_output_stream") for line in lines if line.startswith("data: {")]
    assert [t for t in texts if t] == FIXED_ANSWER.split(" ")[:1] + [" " + FIXED_ANSWER.split(" ")[1]]
    error = orjson.loads(lines[-1][6:]) if lines[-1] != "data: [DONE]" else orjson.loads(lines[-2][6:])
    assert error["error"]["type"] == "upstream_stream_error"


def test_a_user_turn_with_tools_gets_a_call_with_the_required_arguments(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json={
        "model": "mock/echo", "messages": [{"role": "user", "content": "Paris"}], "tools": [WEATHER_TOOL],
    })  # fmt: skip
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Paris", "unit": "c"}
    follow_up = [
        {"role": "user", "content": "Paris"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "21 C and sunny"},
    ]
    r = client.post("/v1/chat/completions", json={"model": "mock/echo", "messages": follow_up, "tools": [WEATHER_TOOL]})
    assert r.json()["choices"][0]["message"]["content"] == "The tool answered: 21 C and sunny"
    none = client.post("/v1/chat/completions", json={
        "model": "mock/echo", "messages": [{"role": "user", "content": "Paris"}], "tools": [WEATHER_TOOL], "tool_choice": "none",
    })  # fmt: skip
    assert none.json()["choices"][0]["message"]["content"] == "Paris"


def test_a_json_schema_gets_json_that_fits_it(client: httpx.Client) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
              "required": ["name", "tags"]}  # fmt: skip
    r = client.post("/v1/chat/completions", json={
        "model": "mock/echo", "messages": [{"role": "user", "content": "Ada"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    })  # fmt: skip
    assert orjson.loads(r.json()["choices"][0]["message"]["content"]) == {"name": "Ada", "tags": ["Ada"]}


def test_embeddings_are_deterministic_unit_vectors(client: httpx.Client) -> None:
    first = client.post("/v1/embeddings", json={"model": "mock/hash-embed", "input": ["a b", "c"]}).json()
    again = client.post("/v1/embeddings", json={"model": "mock/hash-embed", "input": ["a b"]}).json()
    vectors = [item["embedding"] for item in first["data"]]
    assert vectors[0] == again["data"][0]["embedding"] and vectors[0] != vectors[1]
    assert all(math.isclose(math.fsum(v * v for v in vector), 1.0) for vector in vectors)
    assert first["usage"]["prompt_tokens"] == 3


def test_mock_is_ready_without_any_key(client: httpx.Client) -> None:
    assert client.get("/api/engine/providers?detail=true").json()["mock"] == {
        "name": "Mock (offline, no key)", "ready": True, "missing": []
    }
