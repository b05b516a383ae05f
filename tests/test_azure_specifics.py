"""Azure OpenAI: the deployment in the path, the API version, the key header, the endpoint."""

from __future__ import annotations

from typing import Callable

import httpx
import pytest

from tests.emulators.base import VALID_KEY
from tests.emulators.openai import AzureOpenAIEmulator

CHAT = "/api/engine/chat/azure"


def test_deployment_version_and_key(client: httpx.Client, azure_emulator: AzureOpenAIEmulator) -> None:
    r = client.post(CHAT, json={"model": "prod-mini", "chat_input": "hi"})
    assert r.status_code == 200, r.text
    assert azure_emulator.paths[-1] == "/openai/deployments/prod-mini/chat/completions"
    assert azure_emulator.headers[-1]["api-key"] == VALID_KEY
    assert azure_emulator.queries[-1]["api-version"] == "2024-10-21"
    # priced by the model Azure reports, whatever the deployment is called
    assert r.json()["deployment"] == "gpt-4o-mini-2024-07-18" and r.json()["metrics"]["cost_usd"] > 0


def test_api_version_comes_from_openai_api_version(
    gateway_factory: Callable[..., str], azure_emulator: AzureOpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    client = httpx.Client(base_url=gateway_factory(), timeout=30)  # a gateway started after the change
    assert client.post(CHAT, json={"model": "prod-mini", "chat_input": "hi"}).status_code == 200
    assert azure_emulator.queries[-1]["api-version"] == "2025-04-01-preview"


def test_missing_endpoint_is_a_clear_4xx(gateway_factory: Callable[..., str], azure_emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT")
    client = httpx.Client(base_url=gateway_factory(), timeout=30)  # a gateway started after the change
    r = client.post(CHAT, json={"model": "prod-mini", "chat_input": "hi"})
    assert r.status_code == 400 and "AZURE_OPENAI_ENDPOINT" in r.json()["error"]["message"]
    detail = client.get("/api/engine/providers", params={"detail": "true"}).json()["azure"]
    assert detail["ready"] is False and detail["missing"] == ["AZURE_OPENAI_ENDPOINT"]


def test_embeddings_through_azure(gateway_url: str, azure_emulator: AzureOpenAIEmulator) -> None:
    r = httpx.post(f"{gateway_url}/v1/embeddings", json={"model": "azure/text-embedding-3-small", "input": "one two"})
    assert r.status_code == 200, r.text
    assert azure_emulator.paths[-1] == "/openai/deployments/text-embedding-3-small/embeddings"
    assert r.json()["usage"]["prompt_tokens"] == 2


@pytest.fixture
def gateway_url(shared_gateway_url: str) -> str:
    """This module's tests share one gateway; a test that changes vendor variables starts its
    own with `gateway_factory` (a gateway reads them once)."""
    return shared_gateway_url
