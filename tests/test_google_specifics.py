"""Gemini: the alias id, thinking tokens, the shared HTTP client, embeddings."""

from __future__ import annotations

import httpx
import httpx2
import orjson
import pytest
from pydantic import SecretStr

from llmgateway.catalog import load_catalog
from llmgateway.providers.google import GoogleAdapter
from llmgateway.vocabulary.events import TextDelta
from llmgateway.vocabulary.requests import ChatRequest
from tests.emulators.gemini import PROMPT_TOKENS, GeminiEmulator


def test_gemini_is_an_alias_of_google(client: httpx.Client, gemini_emulator: GeminiEmulator) -> None:
    r = client.post("/api/engine/chat/gemini", json={"model": "gemini-2.5-flash", "chat_input": "hi"})
    assert r.status_code == 200, r.text
    assert gemini_emulator.headers[-1]["x-goog-api-key"]


def test_thinking_tokens_are_output_and_reasoning(client: httpx.Client, gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.usage_extra = {"reasoning_tokens": 40, "cached_tokens": 4}
    m = client.post("/api/engine/chat/google", json={"model": "gemini-2.5-pro", "chat_input": "think"}).json()["metrics"]
    assert m["input_tokens"] == PROMPT_TOKENS and m["cached_tokens"] == 4
    assert m["output_tokens"] == 12 + 40 and m["reasoning_tokens"] == 40
    expected = (PROMPT_TOKENS - 4) * 1.25e-6 + 4 * 3.125e-7 + 52 * 1.0e-5
    assert m["cost_usd"] == pytest.approx(expected)


def test_parameters_are_translated(client: httpx.Client, gemini_emulator: GeminiEmulator) -> None:
    params = {"temperature": 0.3, "max_tokens": 5, "stop": "END", "top_k": 4}
    r = client.post("/api/engine/chat/google", json={"model": "gemini-2.5-flash", "chat_input": "hi", "parameters": params})
    config = gemini_emulator.requests[-1]["generationConfig"]
    assert config["temperature"] == 0.3 and config["maxOutputTokens"] == 5
    assert config["stopSequences"] == ["END"] and config["topK"] == 4
    assert r.json()["choices"][0]["finish_reason"] == "length"


async def test_the_sdk_rides_on_the_shared_http_client() -> None:
    """google-genai would switch to aiohttp when it is importable (aiobotocore brings it): the
    call must go through the gateway's own pooled client, with its per-request timeout."""
    import aiohttp  # noqa: F401 - importable here, as beside the gateway

    seen: list[httpx2.Request] = []

    def vendor(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        chunk = {"candidates": [{"content": {"parts": [{"text": "hi"}], "role": "model"}, "finishReason": "STOP"}],
                 "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}}  # fmt: skip
        return httpx2.Response(200, content=b"data: " + orjson.dumps(chunk) + b"\r\n\r\n",
                               headers={"content-type": "text/event-stream"})  # fmt: skip

    adapter = GoogleAdapter(httpx2.AsyncClient(transport=httpx2.MockTransport(vendor)))
    spec = load_catalog().provider("google")
    request = ChatRequest(provider=spec, model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}],
                          base_url="http://gemini.invalid", api_key=SecretStr("k"))  # fmt: skip
    events = [event async for event in adapter.stream(request)]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["hi"]
    assert [str(r.url) for r in seen] == [
        "http://gemini.invalid/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse"]
    await adapter.aclose()


def test_embeddings(gateway_url: str, gemini_emulator: GeminiEmulator) -> None:
    r = httpx.post(f"{gateway_url}/v1/embeddings", json={"model": "google/gemini-embedding-001", "input": ["a b c", "d"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["embedding"][2] for d in body["data"]] == [0.0, 1.0]
    # Gemini reports no token counts for embeddings: estimated, and said so
    assert body["metrics"]["tokens_estimated"] is True and body["usage"]["prompt_tokens"] > 0


@pytest.fixture
def gateway_url(shared_gateway_url: str) -> str:
    """This module's tests share one gateway; a test that changes vendor variables starts its
    own with `gateway_factory` (a gateway reads them once)."""
    return shared_gateway_url
