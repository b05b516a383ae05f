"""The openai and anthropic adapters send on their own session what the SDK prepared: the URL
(Azure's deployment path and api-version included), the auth header and the SDK's own headers,
once per client, path and model; nothing that belongs to one request is kept."""

from __future__ import annotations

from typing import Any

import anthropic
import openai

from llmgateway.providers.stainless import Endpoints


async def test_openai_prepares_its_url_key_and_headers_once() -> None:
    endpoints = Endpoints(openai, openai.AsyncOpenAI(api_key="sk-test-prepared", base_url="http://vendor.invalid/v1", max_retries=0))
    endpoint = await endpoints.prepared("/chat/completions", "gpt-4o-mini")
    assert endpoint.url == "http://vendor.invalid/v1/chat/completions"
    assert endpoint.headers["authorization"] == "Bearer sk-test-prepared"
    assert endpoint.headers["user-agent"].startswith("AsyncOpenAI/Python") and endpoint.headers["x-stainless-lang"] == "python"
    assert not {"host", "content-length", "accept-encoding"} & set(endpoint.headers)
    assert await endpoints.prepared("/chat/completions", "gpt-4o-mini") is endpoint


async def test_azure_names_the_deployment_and_version_and_sends_its_api_key() -> None:
    client = openai.AsyncAzureOpenAI(api_key="azure-key-prepared", azure_endpoint="https://res.openai.azure.com",
                                     api_version="2024-10-21", max_retries=0)  # fmt: skip
    endpoint = await Endpoints(openai, client).prepared("/chat/completions", "my-deployment")
    assert endpoint.url == "https://res.openai.azure.com/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21"
    assert endpoint.headers["api-key"] == "azure-key-prepared" and "authorization" not in endpoint.headers


async def test_anthropic_sends_its_key_and_version() -> None:
    endpoints = Endpoints(anthropic, anthropic.AsyncAnthropic(api_key="sk-ant-prepared", base_url="http://vendor.invalid", max_retries=0))
    endpoint = await endpoints.prepared("/v1/messages", "claude-haiku-4-5")
    assert endpoint.url == "http://vendor.invalid/v1/messages"
    assert endpoint.headers["authorization"] == "Bearer sk-ant-prepared" and "anthropic-version" in endpoint.headers
    assert endpoint.headers["x-stainless-timeout"] == "600"  # the client's timeout, as the SDK's own calls say it


async def test_an_idempotency_key_the_sdk_adds_is_not_kept_for_later_calls() -> None:
    """An SDK that gives each request an idempotency key (Stainless SDKs can): kept in the
    prepared headers, it would make the vendor answer every later call as a repeat."""
    client = openai.AsyncOpenAI(api_key="sk-test-prepared", base_url="http://vendor.invalid/v1", max_retries=0)
    client._idempotency_header = "Idempotency-Key"
    prepare = client._prepare_options

    async def with_a_key(options: Any) -> Any:
        options = await prepare(options)
        options.idempotency_key = "stainless-python-retry-0123"
        return options

    client._prepare_options = with_a_key  # type: ignore[method-assign]
    endpoint = await Endpoints(openai, client).prepared("/chat/completions", "gpt-4o-mini")
    assert "idempotency-key" not in endpoint.headers and endpoint.headers["authorization"] == "Bearer sk-test-prepared"
