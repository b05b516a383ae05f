"""The engine API streams as LLMstudio's proxy does: one `chat.completion.chunk` JSON object
per HTTP chunk of the chunked body, every chunk with the reference's keys, the last with
`chat_output`, `usage` and `metrics`. `Accept: text/event-stream` gets server-sent events.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import urllib3

from tests.emulators.openai import DEFAULT_REPLY, Fault, OpenAIEmulator
from tests.test_engine_api import parse_sse

CHAT = "/api/engine/chat/openai"
REFERENCE_CHUNK_KEYS = {
    "id", "object", "created", "model", "choices", "chat_input", "chat_output", "chat_output_stream", "context",
    "provider", "deployment", "timestamp", "parameters", "metrics", "service_tier",
}  # fmt: skip


def http_chunks(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[urllib3.BaseHTTPResponse, list[bytes]]:
    """The response and its body as the HTTP chunks of the chunked encoding, one by one."""
    with urllib3.PoolManager() as pool:
        response = pool.request("POST", url, body=json.dumps(body).encode(), preload_content=False,
                                headers={"Content-Type": "application/json", **(headers or {})})  # fmt: skip
        assert response.headers.get("transfer-encoding") == "chunked"
        chunks = list(response.read_chunked())
        response.release_conn()
    return response, chunks


def test_every_http_chunk_is_one_json_chunk_object(gateway_url: str, openai_emulator: OpenAIEmulator) -> None:
    response, chunks = http_chunks(gateway_url + CHAT, {"model": "gpt-4o-mini", "chat_input": "Hi", "is_stream": True})
    assert response.status == 200 and response.headers["content-type"] == "application/json"
    objects = [json.loads(chunk) for chunk in chunks]  # each HTTP chunk parses alone
    assert len(objects) == 1 + 12 + 1  # the opening chunk, one per word, the closing chunk
    for obj in objects:
        assert REFERENCE_CHUNK_KEYS <= obj.keys(), REFERENCE_CHUNK_KEYS - obj.keys()
        assert obj["object"] == "chat.completion.chunk" and obj["provider"] == "openai"
        assert obj["model"] == "gpt-4o-mini" and obj["deployment"] == "gpt-4o-mini-2024-07-18"
        assert obj["context"] == [{"role": "user", "content": "Hi"}] and obj["chat_input"] == "Hi"
    *streamed, last = objects
    assert "".join(o["chat_output_stream"] for o in streamed) == DEFAULT_REPLY
    assert all(o["metrics"] is None and o["chat_output"] is None for o in streamed)
    assert last["chat_output"] == DEFAULT_REPLY and last["metrics"]["output_tokens"] == 12
    assert last["usage"]["completion_tokens"] == 12 and last["choices"][0]["finish_reason"] == "stop"


def test_an_error_after_the_first_byte_is_one_last_object(gateway_url: str, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.append(Fault("midstream_error", message="The server had an error", after_chunks=3))
    _, chunks = http_chunks(gateway_url + CHAT, {"model": "gpt-4o-mini", "chat_input": "Hi", "is_stream": True})
    objects = [json.loads(chunk) for chunk in chunks]
    assert objects[-1] == {"error": {"type": "upstream_stream_error", "message": objects[-1]["error"]["message"],
                                     "param": None, "code": "upstream_stream_error"}}  # fmt: skip
    assert "The server had an error" in objects[-1]["error"]["message"]
    assert all(o["object"] == "chat.completion.chunk" for o in objects[:-1]) and len(objects) == 1 + 3 + 1


def test_accept_event_stream_gets_server_sent_events(gateway_url: str, openai_emulator: OpenAIEmulator) -> None:
    body = {"model": "gpt-4o-mini", "chat_input": "Hi", "is_stream": True}
    r = httpx.post(gateway_url + CHAT, json=body, headers={"Accept": "text/event-stream"})
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    assert events[-1] == ("message", "[DONE]")
    chunks = [data for _, data in events[:-1]]
    assert all(REFERENCE_CHUNK_KEYS <= chunk.keys() for chunk in chunks)
    assert "".join(c["chat_output_stream"] for c in chunks) == DEFAULT_REPLY


def test_answers_name_the_requested_model_and_the_deployment(gateway_url: str, openai_emulator: OpenAIEmulator) -> None:
    answer = httpx.post(gateway_url + CHAT, json={"model": "gpt-4o-mini", "chat_input": "Hi"}).json()
    assert answer["model"] == "gpt-4o-mini" and answer["deployment"] == "gpt-4o-mini-2024-07-18"
    assert "service_tier" in answer
    row = httpx.get(gateway_url + "/api/tracking/logs").json()[0]
    assert row["model"] == "gpt-4o-mini" and row["deployment"] == "gpt-4o-mini-2024-07-18"


@pytest.fixture
def gateway_url(shared_gateway_url: str) -> str:
    """This module's tests share one gateway; a test that changes vendor variables starts its
    own with `gateway_factory` (a gateway reads them once)."""
    return shared_gateway_url
