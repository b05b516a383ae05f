"""OpenAI's Chat Completions API, through the official `openai` SDK.

The SDK builds the URL, sends the key and maps HTTP errors; the gateway reads the raw SSE
lines (`client.post(..., cast_to=httpx2.Response, stream=True)`, the SDK's documented way to
call an endpoint directly) and parses each chunk with orjson, about four times cheaper per
chunk than the SDK's typed stream. SDK retries are off: the gateway owns
retries and deadlines.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx2
import openai
import orjson

from llmgateway.errors import upstream_stream_error
from llmgateway.providers.openai_responses import ResponsesTranslator
from llmgateway.providers.pool import ClientPool
from llmgateway.providers.stainless import sdk_errors, translated_stream
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
from llmgateway.vocabulary.requests import ChatRequest, EmbeddingRequest, key_of

# Parameters whose OpenAI name differs from the engine API's.
_RENAMED_PARAMETERS = {"max_tokens": "max_completion_tokens"}


class OpenAIAdapter:
    """Speaks the Chat Completions wire format; also serves OpenAI-compatible servers. A request
    with a `native_body` (a Responses API client's, to a provider with `responses_api`) goes to
    `/responses` as it is (openai_responses.py reads the answer)."""

    # The SDK's aiohttp transport: a third less CPU per request than httpx2's h11 (bench/profile.md)
    HTTP_CLIENT = openai.DefaultAioHttpClient

    def __init__(self, http_client: httpx2.AsyncClient) -> None:
        self._http = http_client
        self._clients: ClientPool[openai.AsyncOpenAI] = ClientPool(self._new_client)

    def _new_client(self, base_url: str | None, api_key: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(api_key=api_key, base_url=without_userinfo(base_url), http_client=self._http, max_retries=0)

    async def aclose(self) -> None:
        await self._http.aclose()

    def credentials(self, request: ChatRequest | EmbeddingRequest) -> list[str]:
        return []  # the request's key is all it sends

    def _client_for(self, request: ChatRequest | EmbeddingRequest) -> openai.AsyncOpenAI:
        return self._clients.get(request.base_url, key_of(request))


    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        if request.native_body is not None:
            async for event in self._responses(request):
                yield event
            return
        client = self._client_for(request)
        body = build_chat_body(request)
        with sdk_errors(openai):
            # `client.post` with a raw response: the SDK's URL, auth and error mapping, without
            # its per-request transform of typed params (~230 us) or typed chunk models.
            response = await client.post("/chat/completions", cast_to=httpx2.Response, body=body, stream=True)
            async for event in translated_stream(response, ChunkTranslator().translate):
                yield event

    async def _responses(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """A Responses API client's own body, to OpenAI's `/responses`, streamed; the gateway
        keeps the conversation (`store` is false upstream)."""
        body = {**(request.native_body or {}), "model": request.model, "stream": True, "store": False}
        with sdk_errors(openai):
            response = await self._client_for(request).post("/responses", cast_to=httpx2.Response, body=body, stream=True)
            stream = ResponsesTranslator()
            async for event in translated_stream(response, lambda _name, data: stream.translate(data)):
                yield event

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        client = self._client_for(request)
        body = {"model": request.model, "input": request.inputs, "encoding_format": "float", **request.options}
        with sdk_errors(openai):
            response = await client.post("/embeddings", cast_to=httpx2.Response, body=body)
            payload = orjson.loads(response.content)
        data = sorted(payload.get("data") or (), key=lambda item: item.get("index", 0))
        usage = payload.get("usage") or {}
        return EmbeddingResult([d["embedding"] for d in data], usage.get("prompt_tokens"), payload.get("model"))


class AzureOpenAIAdapter(OpenAIAdapter):
    """Azure OpenAI: the same wire format through `AsyncAzureOpenAI`; the model is the deployment.

    The endpoint is the resource (`AZURE_OPENAI_ENDPOINT`); the SDK puts
    `/openai/deployments/{model}` and `?api-version=` on each call and sends the `api-key` header.
    """

    def __init__(self, http_client: httpx2.AsyncClient) -> None:
        super().__init__(http_client)
        self._azure_clients: ClientPool[openai.AsyncAzureOpenAI] = ClientPool(self._new_azure_client)

    def _new_azure_client(self, endpoint: str | None, api_key: str, api_version: str) -> openai.AsyncAzureOpenAI:
        return openai.AsyncAzureOpenAI(
            api_key=api_key, azure_endpoint=endpoint, api_version=api_version, http_client=self._http, max_retries=0
        )

    def _client_for(self, request: ChatRequest | EmbeddingRequest) -> openai.AsyncOpenAI:
        api_version = str(request.vendor_options.get("api_version", ""))
        return self._azure_clients.get(request.base_url, key_of(request), api_version)


def without_userinfo(base_url: str | None) -> str | None:
    """The endpoint without `user:password@`: the SDK's Bearer key is the credential (the
    aiohttp transport refuses a URL's credentials beside an Authorization header)."""
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
