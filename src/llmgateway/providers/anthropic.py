"""Anthropic's Messages API, prepared by the official `anthropic` SDK (as openai.py is).

Translation: system and developer messages become the top-level `system`; tool results
become `tool_result` blocks of a user turn; images become image blocks. `max_tokens` is
required by the API and defaults to the catalog's value.

API version: the SDK (2.14) defaults to `anthropic-version: 2026-10-21`, under which
temperature, top_p and top_k are no longer accepted. The gateway sends the version the
catalog gives for the model (`options.api_version`, provider default 2023-06-01, which
accepts them); a model served only under the newer version lists those three as
`unsupported_parameters`, so asking for them is a clear 422 before any call.

Usage: input = input_tokens + cache_creation_input_tokens + cache_read_input_tokens;
cached = cache_read_input_tokens; cache writes are priced at the cache-write price. Thinking is
billed as output; reasoning_tokens = output_tokens_details.thinking_tokens where the API
reports it (0 where it does not), and thinking text is kept out of the answer: it streams as
reasoning (with its signature), which the Messages surface passes on as thinking blocks.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Iterator

import anthropic

from llmgateway.errors import BadRequestError, upstream_stream_error
from llmgateway.providers.base import EmbeddingsNotSupportedError
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
from llmgateway.providers.stainless import StainlessAdapter, translated_stream
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

DEFAULT_API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Anthropic's streamed error types that a retry may cure.
_RETRYABLE_STREAM_ERRORS = {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}


class AnthropicAdapter(StainlessAdapter):
    SDK = anthropic

    def _new_sdk_client(self, base_url: str | None, api_key: str) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, http_client=self._http, max_retries=0)

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        raise EmbeddingsNotSupportedError("anthropic has no embeddings API")

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        body = build_messages_body(request)
        headers = {"anthropic-version": request.vendor_options.get("api_version", DEFAULT_API_VERSION)}
        allowed = request.vendor_options.get("allowed_betas") or ()
        betas = [beta for beta in allowed if beta in request.vendor_features]  # the server's values only
        if betas:
            headers["anthropic-beta"] = ",".join(betas)
        response = await self._post(request, "/v1/messages", body, headers)
        async for event in translated_stream(response, StreamTranslator().translate):
            yield event


def build_messages_body(request: ChatRequest) -> dict[str, Any]:
    if request.native_body is not None:  # a Messages API client's own body: ours to stream
        return {**request.native_body, "model": request.model, "stream": True}
    system, messages = split_system(request.messages)
    params = dict(request.parameters)
    default_max = request.provider.parameters.get("max_tokens")
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": params.pop("max_tokens", None) or (default_max.default if default_max else None) or DEFAULT_MAX_TOKENS,
        "messages": [{"role": role, "content": blocks} for role, blocks in merged_turns(messages, _blocks)],
        "stream": True,
    }
    if system:
        body["system"] = system
    if "stop" in params:
        stop = params.pop("stop")
        body["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    body.update(params)
    if request.tools:
        body["tools"] = [
            {
                "name": t["function"]["name"],
                "description": t["function"].get("description", ""),
                "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}},
            }
            for t in request.tools
        ]
    mode, name = tool_choice_mode(request.tool_choice)
    if mode is not None:
        body["tool_choice"] = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}.get(
            mode, {"type": "tool", "name": name}
        )
    structured = json_schema_of(request.response_format)
    if structured is not None:
        kind, schema = structured
        if kind == "json_object":
            raise BadRequestError("response_format: anthropic takes a JSON schema (json_schema), not json_object")
        body["output_config"] = {**body.get("output_config", {}), "format": {"type": "json_schema", "schema": schema}}
    return body


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    if message["role"] == "tool":
        text = text_of(message)
        return [{"type": "tool_result", "tool_use_id": message.get("tool_call_id", ""), "content": text}]
    blocks: list[dict[str, Any]] = []
    for part in content_parts(message):
        if isinstance(part, Image):
            source = (
                {"type": "base64", "media_type": part.media_type, "data": part.data}
                if part.data
                else {"type": "url", "url": part.url}
            )
            blocks.append({"type": "image", "source": source})
        elif part:
            blocks.append({"type": "text", "text": part})
    for call in message.get("tool_calls") or ():
        blocks.append(
            {"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": tool_arguments(call)}
        )
    return blocks


class StreamTranslator:
    """Anthropic's stream events (message_start, content_block_*, message_delta, ...) as ours."""

    def __init__(self) -> None:
        self._tool_index: dict[int, int] = {}  # content block index -> tool call index
        self._input = self._cache_read = self._cache_write = self._output = self._thinking = 0

    def translate(self, event: str, data: dict[str, Any]) -> Iterator[ChatEvent]:
        kind = data.get("type", event)
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                yield TextDelta(delta["text"])
            elif delta.get("type") == "thinking_delta" and delta.get("thinking"):
                yield ReasoningDelta(delta["thinking"])
            elif delta.get("type") == "signature_delta" and delta.get("signature"):
                yield ReasoningDelta("", signature=delta["signature"])
            elif delta.get("type") == "input_json_delta":
                index = self._tool_index.get(data.get("index", 0))
                if index is not None:
                    yield ToolCallDelta(index, arguments=delta.get("partial_json", ""))
        elif kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self._tool_index[data.get("index", 0)] = len(self._tool_index)
                yield ToolCallDelta(index, block.get("id"), block.get("name"), "")
            elif block.get("type") == "text" and block.get("text"):
                yield TextDelta(block["text"])
            elif block.get("type") == "thinking" and block.get("thinking"):
                yield ReasoningDelta(block["thinking"])
        elif kind == "message_start":
            message = data.get("message") or {}
            self._count(message.get("usage") or {})
            yield ResponseInfo(message.get("model"), message.get("id"))
        elif kind == "message_delta":
            self._count(data.get("usage") or {})
            reason = (data.get("delta") or {}).get("stop_reason")
            if reason:
                yield Finish(STOP_REASONS.get(reason, "stop"))
        elif kind == "message_stop":
            yield Usage(
                input_tokens=self._input + self._cache_read + self._cache_write,
                output_tokens=self._output,
                cached_tokens=self._cache_read,
                reasoning_tokens=self._thinking,
                cache_write_tokens=self._cache_write,
            )
        elif kind == "error":
            error = data.get("error") or {}
            error_type = error.get("type", "api_error")
            raise upstream_stream_error(
                error_type, str(error.get("message", "")), retryable=error_type in _RETRYABLE_STREAM_ERRORS
            )

    def _count(self, usage: dict[str, Any]) -> None:
        """Usage fields are cumulative: message_start has input, message_delta the output so far."""
        self._input = usage.get("input_tokens") or self._input
        self._cache_read = usage.get("cache_read_input_tokens") or self._cache_read
        self._cache_write = usage.get("cache_creation_input_tokens") or self._cache_write
        self._output = usage.get("output_tokens") or self._output
        self._thinking = (usage.get("output_tokens_details") or {}).get("thinking_tokens") or self._thinking
