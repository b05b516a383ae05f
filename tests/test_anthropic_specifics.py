"""What only Anthropic has: its API version per model, cache reads and writes, max_tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import httpx
import pytest

from tests.emulators.anthropic import AnthropicEmulator

CHAT = "/api/engine/chat/anthropic"


def test_version_header_and_sampling_parameters(client: httpx.Client, anthropic_emulator: AnthropicEmulator) -> None:
    r = client.post(CHAT, json={"model": "claude-sonnet-4-5", "chat_input": "hi",
                                "parameters": {"temperature": 0.2, "top_k": 5, "stop": "END"}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert anthropic_emulator.headers[-1]["anthropic-version"] == "2023-06-01"
    sent = anthropic_emulator.requests[-1]
    assert sent["temperature"] == 0.2 and sent["top_k"] == 5 and sent["stop_sequences"] == ["END"]
    assert sent["max_tokens"] == 4096  # required by the API: the catalog's default
    assert r.json()["parameters"]["max_tokens"] == 4096


def test_a_model_on_the_newer_api_version_refuses_sampling_parameters(
    gateway_factory: Callable[..., str], tmp_path: Path, anthropic_emulator: AnthropicEmulator
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "providers:\n  anthropic:\n    models:\n      claude-next:\n"
        "        options: {api_version: '2026-10-21'}\n"
        "        unsupported_parameters: [temperature, top_p, top_k]\n"
    )
    with httpx.Client(base_url=gateway_factory(catalog=catalog)) as c:
        refused = c.post(CHAT, json={"model": "claude-next", "chat_input": "hi", "parameters": {"temperature": 0.5}})
        assert refused.status_code == 422 and "parameters.temperature" in refused.json()["error"]["message"]
        assert anthropic_emulator.requests == []
        ok = c.post(CHAT, json={"model": "claude-next", "chat_input": "hi", "parameters": {"max_tokens": 100}})
        assert ok.status_code == 200
    assert anthropic_emulator.headers[-1]["anthropic-version"] == "2026-10-21"
    assert "temperature" not in anthropic_emulator.requests[-1]


def test_cache_reads_and_writes_are_counted_and_priced(client: httpx.Client, anthropic_emulator: AnthropicEmulator) -> None:
    anthropic_emulator.usage_extra = {"cached_tokens": 1000, "cache_write_tokens": 200}
    r = client.post(CHAT, json={"model": "claude-sonnet-4-5-20250929", "chat_input": "hi"})
    m = r.json()["metrics"]
    assert m["input_tokens"] == 25 + 1000 + 200
    assert m["cached_tokens"] == 1000 and m["cache_write_tokens"] == 200
    expected = 25 * 3e-6 + 1000 * 3e-7 + 200 * 3.75e-6 + 12 * 1.5e-5
    assert m["cost_usd"] == pytest.approx(expected)


def test_max_tokens_stop_is_length(client: httpx.Client, anthropic_emulator: AnthropicEmulator) -> None:
    r = client.post(CHAT, json={"model": "claude-haiku-4-5", "chat_input": "hi", "parameters": {"max_tokens": 3}})
    assert r.json()["choices"][0]["finish_reason"] == "length" and r.json()["chat_output"] == "Hello! I am"


def test_key_goes_as_bearer_and_is_never_echoed(client: httpx.Client, anthropic_emulator: AnthropicEmulator) -> None:
    r = client.post(CHAT, json={"model": "claude-haiku-4-5", "chat_input": "hi", "api_key": "sk-ant-WRONG-123456"})
    assert r.status_code == 401 and "WRONG" not in r.text
    assert anthropic_emulator.headers[-1]["authorization"] == "Bearer sk-ant-WRONG-123456"


@pytest.fixture
def gateway_url(shared_gateway_url: str) -> str:
    """This module's tests share one gateway; a test that changes vendor variables starts its
    own with `gateway_factory` (a gateway reads them once)."""
    return shared_gateway_url


def test_thinking_tokens_are_reasoning_tokens(client: httpx.Client, anthropic_emulator) -> None:
    """anthropic 2.14's usage breaks thinking out of the output (`output_tokens_details`): the
    metrics count it as reasoning, and the speed counts only what the client sees."""
    anthropic_emulator.thinking = "Let me think about who I am."  # 7 tokens in the emulator's count
    m = client.post(CHAT, json={"model": "claude-sonnet-4-5", "chat_input": "Who are you?"}).json()["metrics"]
    assert (m["output_tokens"], m["reasoning_tokens"]) == (12 + 7, 7)
