"""Gemini, through Google's `google-genai` SDK: the Gemini Developer API and Vertex AI.

Translation: assistant becomes the `model` role; system and developer messages become
`system_instruction`; tool results become `function_response` parts (Gemini wants the
function's name, found from the call they answer); images become inline data or file URIs;
`response_format` becomes `response_mime_type` and `response_json_schema`.

The stream: each chunk carries the usage so far (cumulative). input = promptTokenCount;
output = candidatesTokenCount + thoughtsTokenCount; cached = cachedContentTokenCount;
reasoning = thoughtsTokenCount. Thought parts are kept out of the answer. Gemini answers a
function call whole, with finishReason STOP and, on the Developer API, no call id: the
gateway reports finish_reason tool_calls and makes the ids.

The SDK gets the gateway's shared HTTP client (it would otherwise switch to aiohttp when
aiohttp is importable), an explicit timeout (its default is none) and no retries of its own.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any, AsyncIterator, Iterator

import google.auth
import google.auth.credentials
import httpx2
import orjson
from google import genai
from google.auth import exceptions as google_auth_exceptions
from google.genai import errors as genai_errors
from google.genai import types

from llmgateway.errors import (
    BadRequestError,
    MissingCredentialsError,
    ProviderNotConfiguredError,
    UpstreamError,
    UpstreamTimeoutError,
    upstream_status_error,
    upstream_stream_error,
    upstream_unreachable,
)
from llmgateway.providers.base import checked, parsed_by_the_sdk, translating
from llmgateway.providers.messages import (
    Image,
    content_parts,
    json_schema_of,
    merged_turns,
    split_system,
    text_of,
    tool_arguments,
    tool_choice_mode,
)
from llmgateway.providers.pool import ClientPool
from llmgateway.vocabulary.events import (
    ChatEvent,
    EmbeddingResult,
    Finish,
    ResponseInfo,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llmgateway.vocabulary.requests import ChatRequest, EmbeddingRequest, key_of

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
# The engine API's parameters that are fields of `GenerateContentConfig`, by their SDK names.
# Any other parameter goes into the REST body (`HttpOptions.extra_body`), never into the config,
# whose `http_options` would let a client set the host, headers and credentials of the call.
_CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_CONFIG_FIELDS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "max_tokens": "max_output_tokens",
    "stop": "stop_sequences",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "seed": "seed",
}


class GoogleAdapter:
    def __init__(self, http_client: httpx2.AsyncClient) -> None:
        self._http = http_client
        read = http_client.timeout.read
        self._timeout_ms = int(read * 1000) if read else None
        self._clients: ClientPool[genai.Client] = ClientPool(self._new_client)
        self._credentials: dict[tuple[str, str], google.auth.credentials.Credentials] = {}

    def _http_options(self, base_url: str | None) -> types.HttpOptions:
        return types.HttpOptions(
            base_url=base_url,
            timeout=self._timeout_ms,
            httpx_async_client=self._http,
            retry_options=types.HttpRetryOptions(attempts=1),
        )

    def _new_client(self, base_url: str | None, api_key: str, project: str, location: str) -> genai.Client:
        if project:  # Vertex AI: credentials from the standard Google chain, kept to scrub their tokens
            credentials, _ = google.auth.default(scopes=[_CLOUD_PLATFORM_SCOPE])
            self._credentials[(project, location)] = credentials
            return genai.Client(vertexai=True, project=project, location=location, credentials=credentials,
                                http_options=self._http_options(base_url))  # fmt: skip
        return genai.Client(api_key=api_key, http_options=self._http_options(base_url))

    def credentials(self, request: ChatRequest | EmbeddingRequest) -> list[str]:
        options = request.vendor_options
        held = self._credentials.get((options.get("project", ""), options.get("location", "")))
        return [held.token] if held is not None and held.token else []

    def _client_for(self, request: ChatRequest | EmbeddingRequest) -> genai.Client:
        api_key = key_of(request)
        options = request.vendor_options
        try:
            return self._clients.get(request.base_url, api_key, options.get("project", ""), options.get("location", ""))
        except google_auth_exceptions.GoogleAuthError as exc:
            raise _credentials_error(request, exc) from None
        except ValueError as exc:  # the SDK refuses to build a client it lacks settings for
            raise ProviderNotConfiguredError(f"provider {request.provider.id!r} is not configured: {exc}") from None

    async def warm_up(self) -> None:
        """Nothing yet: the genai client of a key is made by its first request."""

    async def aclose(self) -> None:
        await self._http.aclose()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        client = self._client_for(request)
        system, messages = split_system(request.messages)
        started = False
        try:
            chunks = await client.aio.models.generate_content_stream(
                model=request.model, contents=build_contents(messages), config=build_config(request, system)
            )
            translator = StreamTranslator()
            async with aclosing(chunks):  # a consumer that stops early closes the upstream response
                async for chunk in parsed_by_the_sdk(chunks):
                    started = True
                    with translating():
                        events = checked(translator.translate(chunk))
                    for event in events:
                        yield event
            with translating():
                events = checked(translator.close())
            for event in events:
                yield event
        except genai_errors.APIError as exc:
            raise _api_error(exc, started) from None
        except google_auth_exceptions.GoogleAuthError as exc:
            raise _credentials_error(request, exc) from None
        except httpx2.TimeoutException:
            raise UpstreamTimeoutError("the upstream did not answer in time") from None
        except httpx2.TransportError as exc:
            raise upstream_unreachable(exc) from None

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        client = self._client_for(request)
        config = {"output_dimensionality": request.options["dimensions"]} if "dimensions" in request.options else None
        try:
            result = await client.aio.models.embed_content(model=request.model, contents=request.inputs, config=config)
        except genai_errors.APIError as exc:
            raise _api_error(exc, False) from None
        except httpx2.TransportError as exc:
            raise upstream_unreachable(exc) from None
        vectors = [e.values for e in result.embeddings or ()]
        return EmbeddingResult(vectors, None, request.model)


def _credentials_error(request: ChatRequest | EmbeddingRequest, exc: Exception) -> MissingCredentialsError:
    return MissingCredentialsError(f"Google credentials failed for provider {request.provider.id!r}: {exc}")


def _api_error(exc: genai_errors.APIError, started: bool) -> UpstreamError:
    message = exc.message or str(exc)
    if started:  # an error object in the middle of the stream
        return upstream_stream_error(str(exc.status or exc.code), message, retryable=exc.code == 429 or exc.code >= 500)
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    return upstream_status_error(exc.code, message, retry_after=headers.get("retry-after"))


def build_config(request: ChatRequest, system: str | None) -> dict[str, Any]:
    """The call's `GenerateContentConfig`: the parameters the adapter knows, mapped by name;
    every other parameter is merged into the JSON body the SDK sends, as the client wrote it
    (for example `{"safetySettings": [...]}` or `{"generationConfig": {"responseLogprobs": true}}`)."""
    config: dict[str, Any] = {}
    body: dict[str, Any] = {}
    for name, value in request.parameters.items():
        if name in _CONFIG_FIELDS:
            config[_CONFIG_FIELDS[name]] = value
        else:
            body[name] = value
    if body:
        config["http_options"] = types.HttpOptions(extra_body=body)
    if isinstance(config.get("stop_sequences"), str):
        config["stop_sequences"] = [config["stop_sequences"]]
    if system:
        config["system_instruction"] = system
    if request.tools:
        config["tools"] = [
            {
                "function_declarations": [
                    {
                        "name": t["function"]["name"],
                        "description": t["function"].get("description", ""),
                        "parameters_json_schema": t["function"].get("parameters") or {"type": "object"},
                    }
                    for t in request.tools
                ]
            }
        ]
    mode, name = tool_choice_mode(request.tool_choice)
    if mode is not None:
        calling = types.FunctionCallingConfig(
            mode={"auto": "AUTO", "required": "ANY", "none": "NONE"}.get(mode, "ANY"),
            allowed_function_names=[name] if name else None,
        )
        config["tool_config"] = types.ToolConfig(function_calling_config=calling)
    structured = json_schema_of(request.response_format)
    if structured is not None:
        config["response_mime_type"] = "application/json"
        if structured[1] is not None:
            config["response_json_schema"] = structured[1]
    return config


def build_contents(messages: list[dict[str, Any]]) -> list[types.Content]:
    """Typed contents, so that the SDK writes every field in the API's own spelling."""
    call_names = {c["id"]: c["function"]["name"] for m in messages for c in m.get("tool_calls") or ()}
    turns = merged_turns(messages, lambda message: _parts(message, call_names), assistant="model")
    if not turns:
        raise BadRequestError("chat_input: Gemini needs a user or assistant message besides the system prompt")
    return [types.Content(role=role, parts=parts) for role, parts in turns]


def _parts(message: dict[str, Any], call_names: dict[str, str]) -> list[types.Part]:
    if message["role"] == "tool":
        call_id = message.get("tool_call_id", "")
        response = types.FunctionResponse(
            id=call_id, name=call_names.get(call_id, call_id), response={"result": text_of(message)}
        )
        return [types.Part(function_response=response)]
    parts: list[types.Part] = []
    for part in content_parts(message):
        if isinstance(part, Image):
            if part.data:
                parts.append(types.Part(inline_data=types.Blob(mime_type=part.media_type, data=part.raw_bytes())))
            else:
                parts.append(types.Part(file_data=types.FileData(file_uri=part.url, mime_type="image/*")))
        elif part:
            parts.append(types.Part(text=part))
    for call in message.get("tool_calls") or ():
        function_call = types.FunctionCall(id=call["id"], name=call["function"]["name"], args=tool_arguments(call))
        parts.append(types.Part(function_call=function_call))
    return parts


class StreamTranslator:
    def __init__(self) -> None:
        self._info_sent = False
        self._tool_calls = 0
        self._usage: types.GenerateContentResponseUsageMetadata | None = None
        self._finish: str | None = None

    def translate(self, chunk: types.GenerateContentResponse) -> Iterator[ChatEvent]:
        if not self._info_sent and chunk.model_version:
            self._info_sent = True
            yield ResponseInfo(chunk.model_version, chunk.response_id)
        if chunk.usage_metadata is not None:
            self._usage = chunk.usage_metadata  # cumulative: the last one holds the totals
        for candidate in (chunk.candidates or ())[:1]:
            for part in (candidate.content.parts if candidate.content else None) or ():
                if part.function_call is not None:
                    call = part.function_call
                    arguments = orjson.dumps(call.args or {}).decode()
                    yield ToolCallDelta(self._tool_calls, call.id, call.name, arguments)
                    self._tool_calls += 1
                elif part.text and not part.thought:
                    yield TextDelta(part.text)
            if candidate.finish_reason is not None:
                reason = getattr(candidate.finish_reason, "value", str(candidate.finish_reason))
                self._finish = FINISH_REASONS.get(reason, "stop")

    def close(self) -> Iterator[ChatEvent]:
        if self._finish is not None:
            yield Finish("tool_calls" if self._tool_calls and self._finish == "stop" else self._finish)
        if self._usage is not None:
            u = self._usage
            thoughts = u.thoughts_token_count or 0
            yield Usage(
                input_tokens=u.prompt_token_count or 0,
                output_tokens=(u.candidates_token_count or 0) + thoughts,
                cached_tokens=u.cached_content_token_count or 0,
                reasoning_tokens=thoughts,
            )
