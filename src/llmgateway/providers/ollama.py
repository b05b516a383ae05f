"""Ollama's native `/api/chat` (an NDJSON stream), through the official `ollama` SDK.

The host is `OLLAMA_HOST` (default http://localhost:11434); no key. Counts come from the last
line (`done: true`): input = prompt_eval_count, output = eval_count. Thinking (`thinking`) is
reasoning, kept out of the answer. Images must be inline (base64); tool calls come whole, without ids.
The `ollama` SDK runs on httpx, not httpx2, so its clients are pooled here per host, with the
gateway's connect and read timeouts.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any, AsyncIterator

import httpx
import httpx2
import ollama
import orjson

from llmgateway.errors import (
    BadRequestError,
    UpstreamError,
    UpstreamTimeoutError,
    upstream_status_error,
    upstream_stream_error,
    upstream_unreachable,
)
from llmgateway.providers.base import checked, parsed_by_the_sdk, translating
from llmgateway.providers.messages import Image, content_parts, json_schema_of, tool_arguments
from llmgateway.providers.pool import ClientPool
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

# The engine API's parameter names, as Ollama's `options`.
_OPTION_NAMES = {"max_tokens": "num_predict"}
FINISH_REASONS = {"stop": "stop", "length": "length", "load": "stop", "unload": "stop"}


class OllamaAdapter:
    def __init__(self, http_client: httpx2.AsyncClient) -> None:
        self._http = http_client
        timeout = http_client.timeout
        self._timeout = httpx.Timeout(timeout.read, connect=timeout.connect)
        self._clients: ClientPool[ollama.AsyncClient] = ClientPool(self._new_client, close=ollama.AsyncClient.close)

    def _new_client(self, host: str | None) -> ollama.AsyncClient:
        return ollama.AsyncClient(host=host, timeout=self._timeout)

    async def warm_up(self) -> None:
        """Nothing yet: the client of a host (its own httpx pool) is made by its first request."""

    async def aclose(self) -> None:
        await self._clients.aclose()  # each Ollama client has its own httpx pool
        await self._http.aclose()

    def credentials(self, request: ChatRequest | EmbeddingRequest) -> list[str]:
        return []  # the request's key is all it sends

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        client = self._clients.get(request.base_url)
        options, kwargs = build_options(request)
        started = False
        try:
            parts = await client.chat(
                model=request.model, messages=build_messages(request.messages), tools=_tools(request), stream=True,
                options=options or None, **kwargs,
            )  # fmt: skip
            tool_calls = 0
            async with aclosing(parts):  # a consumer that stops early closes the upstream response
                async for part in parsed_by_the_sdk(parts):
                    events: list[ChatEvent] = []
                    if not started:
                        started = True
                        events.append(ResponseInfo(part.model))
                    with translating():
                        events = checked([*events, *translate_part(part, tool_calls)])
                    tool_calls += sum(isinstance(e, ToolCallDelta) for e in events)
                    for event in events:
                        yield event
        except ollama.ResponseError as exc:
            raise _response_error(exc, started) from None
        except httpx.TimeoutException:
            raise UpstreamTimeoutError("the upstream did not answer in time") from None
        except (httpx.TransportError, ConnectionError) as exc:
            raise upstream_unreachable(exc) from None

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        client = self._clients.get(request.base_url)
        try:
            result = await client.embed(model=request.model, input=request.inputs, dimensions=request.options.get("dimensions"))
        except ollama.ResponseError as exc:
            raise _response_error(exc, False) from None
        except (httpx.TransportError, ConnectionError) as exc:
            raise upstream_unreachable(exc) from None
        return EmbeddingResult([list(v) for v in result.embeddings], result.prompt_eval_count, result.model)


def translate_part(part: Any, tool_calls_so_far: int) -> list[ChatEvent]:
    """One streamed ChatResponse as events; tool calls are numbered after those before it."""
    events: list[ChatEvent] = []
    message = part.message
    if message.thinking:
        events.append(ReasoningDelta(message.thinking))
    if message.content:
        events.append(TextDelta(message.content))
    index = tool_calls_so_far
    for call in message.tool_calls or ():
        arguments = orjson.dumps(dict(call.function.arguments or {})).decode()
        events.append(ToolCallDelta(index, None, call.function.name, arguments))
        index += 1
    if part.done:
        reason = FINISH_REASONS.get(part.done_reason or "stop", "stop")
        events.append(Finish("tool_calls" if index and reason == "stop" else reason))
        events.append(Usage(input_tokens=part.prompt_eval_count or 0, output_tokens=part.eval_count or 0))
    return events


def _response_error(exc: ollama.ResponseError, started: bool) -> UpstreamError:
    if exc.status_code == -1 or started:  # an {"error": ...} line inside the stream
        return upstream_stream_error(None, str(exc.error))
    return upstream_status_error(exc.status_code, str(exc.error))


def build_options(request: ChatRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Ollama's `options`, other chat arguments such as `format`)."""
    options = {_OPTION_NAMES.get(k, k): v for k, v in request.parameters.items()}
    if isinstance(options.get("stop"), str):
        options["stop"] = [options["stop"]]
    kwargs: dict[str, Any] = {}
    structured = json_schema_of(request.response_format)
    if structured is not None:
        kwargs["format"] = "json" if structured[1] is None else structured[1]
    return options, kwargs


def _tools(request: ChatRequest) -> list[dict[str, Any]] | None:
    if not request.tools or request.tool_choice == "none":
        return None
    return request.tools


def build_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    call_names = {c["id"]: c["function"]["name"] for m in messages for c in m.get("tool_calls") or ()}
    translated = []
    for message in messages:
        text: list[str] = []
        images: list[str] = []
        for part in content_parts(message):
            if isinstance(part, Image):
                if part.data is None:
                    raise BadRequestError("image_url: ollama takes inline images only (a base64 data URL)")
                images.append(part.data)
            else:
                text.append(part)
        role = "system" if message["role"] == "developer" else message["role"]
        out: dict[str, Any] = {"role": role, "content": "".join(text)}
        if images:
            out["images"] = images
        if message.get("tool_calls"):
            out["tool_calls"] = [
                {"function": {"name": c["function"]["name"], "arguments": tool_arguments(c)}} for c in message["tool_calls"]
            ]
        if role == "tool":
            out["tool_name"] = call_names.get(message.get("tool_call_id", ""), "")
        translated.append(out)
    return translated
