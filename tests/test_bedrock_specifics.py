"""Bedrock: credentials and region from the AWS chain, usage from the metadata event."""

from __future__ import annotations

from typing import Callable

import httpx
import pytest

from tests.emulators.bedrock import INPUT_TOKENS, BedrockEmulator

CHAT = "/api/engine/chat/bedrock"
MODEL = "anthropic.claude-haiku-4-5-20251001-v1:0"


def test_signed_with_the_chains_credentials_for_the_region(client: httpx.Client, bedrock_emulator: BedrockEmulator) -> None:
    r = client.post(CHAT, json={"model": MODEL, "chat_input": "hi", "parameters": {"max_tokens": 100, "temperature": 0.5}})
    assert r.status_code == 200, r.text
    auth = bedrock_emulator.headers[-1]["authorization"]
    assert "Credential=AKIAEMULATOR00000000/" in auth and "/eu-west-1/bedrock/aws4_request" in auth
    assert bedrock_emulator.paths[-1] == f"/model/{MODEL}/converse-stream"
    assert bedrock_emulator.requests[-1]["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.5}


def test_cache_reads_and_writes_from_the_metadata_event(client: httpx.Client, bedrock_emulator: BedrockEmulator) -> None:
    bedrock_emulator.usage_extra = {"cacheReadInputTokens": 500, "cacheWriteInputTokens": 100}
    m = client.post(CHAT, json={"model": MODEL, "chat_input": "hi"}).json()["metrics"]
    assert m["input_tokens"] == INPUT_TOKENS + 600 and m["cached_tokens"] == 500 and m["cache_write_tokens"] == 100
    assert m["cost_usd"] == pytest.approx(INPUT_TOKENS * 1e-6 + 500 * 1e-7 + 100 * 1.25e-6 + 12 * 5e-6)


def test_no_credentials_is_a_clear_error(client: httpx.Client, bedrock_emulator, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    r = client.post(CHAT, json={"model": MODEL, "chat_input": "hi"})
    assert r.status_code == 401 and "AWS_ACCESS_KEY_ID" in r.json()["error"]["message"]


def test_a_signature_made_with_another_secret_is_refused(
    gateway_factory: Callable[..., str], bedrock_emulator: BedrockEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator recomputes Signature Version 4 with the account's secret, as AWS does."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-accounts-secret-0123456789")
    r = httpx.post(gateway_factory() + CHAT, json={"model": MODEL, "chat_input": "hi"})
    assert r.status_code == 403 and r.json()["error"]["type"] == "upstream_permission_error"
    assert "signature" in r.json()["error"]["message"]
