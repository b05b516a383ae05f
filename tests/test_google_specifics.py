"""Gemini: the alias id, thinking tokens, the shared HTTP client, embeddings."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from llmgateway.providers.google import GoogleAdapter
from llmgateway.providers.pool import shared_http_client
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


def test_the_sdk_rides_on_the_shared_http_client() -> None:
    """google-genai would switch to aiohttp when it is importable: it must not."""
    import aiohttp  # noqa: F401 - installed beside the gateway (aiobotocore brings it)

    http = shared_http_client(5.0, 30.0)
    adapter = GoogleAdapter(http)
    request = ChatRequest(provider=None, model="m", messages=[], base_url="http://127.0.0.1:9",  # type: ignore[arg-type]
                          api_key=SecretStr("k"))  # fmt: skip
    api_client = adapter._client_for(request)._api_client
    assert api_client._async_httpx_client is http
    assert api_client._use_aiohttp() is False
    assert api_client._http_options.timeout == 30_000


def test_embeddings(gateway_url: str, gemini_emulator: GeminiEmulator) -> None:
    r = httpx.post(f"{gateway_url}/v1/embeddings", json={"model": "google/gemini-embedding-001", "input": ["a b c", "d"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["embedding"][2] for d in body["data"]] == [0.0, 1.0]
    # Gemini reports no token counts for embeddings: estimated, and said so
    assert body["metrics"]["tokens_estimated"] is True and body["usage"]["prompt_tokens"] > 0
