"""Ollama: no key, zero cost, options, inline images only, embeddings."""

from __future__ import annotations

from typing import Callable

import httpx
import pytest

from tests.emulators.ollama import PROMPT_EVAL_COUNT, OllamaEmulator

CHAT = "/api/engine/chat/ollama"


def test_no_key_zero_cost_and_counts_from_the_last_line(client: httpx.Client, ollama_emulator: OllamaEmulator) -> None:
    r = client.post(CHAT, json={"model": "llama3.2", "chat_input": "hi"})
    m = r.json()["metrics"]
    assert m["input_tokens"] == PROMPT_EVAL_COUNT and m["output_tokens"] == 12
    assert m["cost_usd"] == 0.0 and m["price_known"] is True
    assert "authorization" not in ollama_emulator.headers[-1]


def test_parameters_become_options(client: httpx.Client, ollama_emulator: OllamaEmulator) -> None:
    params = {"temperature": 0.1, "max_tokens": 4, "stop": "END", "seed": 3}
    r = client.post(CHAT, json={"model": "qwen3", "chat_input": "hi", "parameters": params})
    assert ollama_emulator.requests[-1]["options"] == {"temperature": 0.1, "num_predict": 4, "stop": ["END"], "seed": 3}
    assert r.json()["choices"][0]["finish_reason"] == "length"


def test_image_urls_are_refused_with_a_clear_400(client: httpx.Client, ollama_emulator: OllamaEmulator) -> None:
    content = [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    r = client.post(CHAT, json={"model": "llama3.2", "chat_input": [{"role": "user", "content": content}]})
    assert r.status_code == 400 and "inline images only" in r.json()["error"]["message"]
    assert ollama_emulator.requests == []


def test_embeddings(gateway_url: str, ollama_emulator: OllamaEmulator) -> None:
    r = httpx.post(f"{gateway_url}/v1/embeddings", json={"model": "ollama/nomic-embed-text", "input": ["a b", "c"]})
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["prompt_tokens"] == 3 and r.json()["metrics"]["cost_usd"] == 0.0


def test_unreachable_ollama_is_502(gateway_factory: Callable[..., str], monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    client = httpx.Client(base_url=gateway_factory(), timeout=30)  # a gateway started after the change
    r = client.post(CHAT, json={"model": "llama3.2", "chat_input": "hi"})
    assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_unavailable"


@pytest.fixture
def gateway_url(shared_gateway_url: str) -> str:
    """This module's tests share one gateway; a test that changes vendor variables starts its
    own with `gateway_factory` (a gateway reads them once)."""
    return shared_gateway_url
