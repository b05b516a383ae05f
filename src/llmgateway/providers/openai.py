"""OpenAI's Chat Completions API, prepared by the official `openai` SDK.

The SDK builds the URL and the headers with the key, once per client (stainless.py); each
call is one POST on the provider's pooled session, its SSE chunks parsed with orjson. The
gateway owns retries and deadlines, so the SDK's retries are off.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import openai

from llmgateway.errors import upstream_stream_error
from llmgateway.providers.openai_responses import ResponsesTranslator
from llmgateway.providers.stainless import StainlessAdapter, translated_stream
from llmgateway.providers.upstream import json_of
from llmgateway.vocabulary.events import (
    ChatEvent,
    EmbeddingResult,
    Finish,
    ReasoningDelta,
    ResponseInfo,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llmgateway.vocabulary.requests import ChatRequest, EmbeddingRequest

# Parameters whose OpenAI name differs from the engine API's.
_RENAMED_PARAMETERS = {"max_tokens": "max_completion_tokens"}


class OpenAIAdapter(StainlessAdapter):
    """Speaks the Chat Completions wire format; also serves OpenAI-compatible servers. A request
    with a `native_body` (a Responses API client's, to a provider with `responses_api`) goes to
    `/responses` as it is (openai_responses.py reads the answer)."""

    SDK = openai

    def _new_sdk_client(self, base_url: str | None, api_key: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(api_key=api_key, base_url=without_userinfo(base_url), http_client=self._http, max_retries=0)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        if request.native_body is not None:
            async for event in self._responses(request):
                yield event
            return
        response = await self._post(request, "/chat/completions", build_chat_body(request))
        async for event in translated_stream(response, ChunkTranslator().translate):
            yield event

    async def _responses(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """A Responses API client's own body, to OpenAI's `/responses`, streamed; the gateway
        keeps the conversation (`store` is false upstream)."""
        body = {**(request.native_body or {}), "model": request.model, "stream": True, "store": False}
        response = await self._post(request, "/responses", body)
        stream = ResponsesTranslator()
        async for event in translated_stream(response, lambda _name, data: stream.translate(data)):
            yield event

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        body = {"model": request.model, "input": request.inputs, "encoding_format": "float", **request.options}
        payload = await json_of(await self._post(request, "/embeddings", body))
        data = sorted(payload.get("data") or (), key=lambda item: item.get("index", 0))
        usage = payload.get("usage") or {}
        return EmbeddingResult([d["embedding"] for d in data], usage.get("prompt_tokens"), payload.get("model"))


class AzureOpenAIAdapter(OpenAIAdapter):
    """Azure OpenAI: the same wire format, prepared by `AsyncAzureOpenAI`; the model is the deployment.

    The endpoint is the resource (`AZURE_OPENAI_ENDPOINT`); the SDK puts
    `/openai/deployments/{model}` and `?api-version=` on each call and sends the `api-key` header.
    """

    def _new_sdk_client(self, endpoint: str | None, api_key: str, api_version: str) -> openai.AsyncAzureOpenAI:
        return openai.AsyncAzureOpenAI(
            api_key=api_key, azure_endpoint=endpoint, api_version=api_version, http_client=self._http, max_retries=0
        )

    def _endpoints_key(self, request: ChatRequest | EmbeddingRequest) -> tuple[Any, ...]:
        return (*super()._endpoints_key(request), str(request.vendor_options.get("api_version", "")))


def without_userinfo(base_url: str | None) -> str | None:
    """The endpoint without `user:password@`: the SDK's Bearer key is the credential (aiohttp
    refuses a URL's credentials beside an Authorization header)."""
    if base_url is None or "@" not in base_url:
        return base_url
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def build_chat_body(request: ChatRequest) -> dict[str, Any]:
    """The request body, in OpenAI's names; always streamed, with usage in the last chunk."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": request.messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    body.update((_RENAMED_PARAMETERS.get(k, k), v) for k, v in request.parameters.items())
    if request.tools is not None:
        body["tools"] = request.tools
    if request.tool_choice is not None:
        body["tool_choice"] = request.tool_choice
    if request.response_format is not None:
        body["response_format"] = request.response_format
    return body


class ChunkTranslator:
    """A stream's chunks as events; the first chunk that names the model (Azure's first names
    none) also gives the response's info."""

    def __init__(self) -> None:
        self._info_sent = False

    def translate(self, _event: str, chunk: dict[str, Any]) -> Iterator[ChatEvent]:
        if not self._info_sent and chunk.get("model"):
            self._info_sent = True
            yield ResponseInfo(chunk["model"], chunk.get("id"), chunk.get("system_fingerprint"), chunk.get("service_tier"))
        yield from translate_chunk(chunk)


def translate_chunk(chunk: dict[str, Any]) -> Iterator[ChatEvent]:
    """One chat.completion.chunk as events. Reasoning text (`reasoning_content`, as DeepSeek and
    vLLM stream it) is reasoning, not the answer's text."""
    error = chunk.get("error")
    if error is not None:
        if not isinstance(error, dict):
            error = {"message": str(error)}
        raise upstream_stream_error(error.get("code") or error.get("type"), str(error.get("message", "")))
    for choice in chunk.get("choices") or ():
        if choice.get("index", 0) != 0:
            continue
        delta = choice.get("delta") or {}
        if delta.get("reasoning_content"):
            yield ReasoningDelta(delta["reasoning_content"])
        text = delta.get("content") or delta.get("refusal")
        if text:
            yield TextDelta(text)
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            yield ToolCallDelta(call.get("index", 0), call.get("id"), function.get("name"), function.get("arguments") or "")
        reason = choice.get("finish_reason")
        if reason:
            yield Finish(reason)
    usage = chunk.get("usage")
    if usage:
        yield Usage(
            input_tokens=usage.get("prompt_tokens") or 0,
            output_tokens=usage.get("completion_tokens") or 0,
            cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
            reasoning_tokens=(usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0,
        )
