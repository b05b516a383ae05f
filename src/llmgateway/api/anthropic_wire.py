"""Anthropic's Messages API wire format, to and from the gateway's own.

A request's messages become the OpenAI-style messages every adapter translates from; a
finished call becomes Anthropic's `message` object, and a call's events become Anthropic's
named stream events in the order the Messages API sends them (message_start, then per
content block content_block_start, content_block_delta..., content_block_stop, with one
`ping` after the first block opens, then message_delta with the usage and message_stop).
Reasoning, where the upstream streams it, is a thinking block (thinking_delta, and
signature_delta when the upstream is Anthropic).

Pure functions and one small state machine: the route module does the HTTP.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmgateway.api.sse import Chunk, OutputEvent
from llmgateway.api.tool_order import OneToolAtATime
from llmgateway.core.call import Call
from llmgateway.errors import GatewayError, ValidationFailedError
from llmgateway.vocabulary.events import ReasoningDelta, TextDelta, ToolCallDelta
from llmgateway.vocabulary.results import CallResult, TokenCounts

# The gateway's finish reasons (OpenAI's vocabulary) as Anthropic's stop reasons.
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}

# HTTP statuses as the error types Anthropic's API and SDKs use.
ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
    404: "not_found_error", 408: "timeout_error", 413: "request_too_large", 422: "invalid_request_error",
    429: "rate_limit_error", 503: "overloaded_error", 504: "timeout_error", 529: "overloaded_error",
}  # fmt: skip


def stop_reason(finish_reason: str | None) -> str:
    return STOP_REASONS.get(finish_reason or "stop", "end_turn")


def error_type_of(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def anthropic_error(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """`{"type": "error", "error": {"type", "message"}}`; `code` keeps the gateway's own type."""
    error: dict[str, Any] = {"type": error_type_of(status), "message": message}
    if code is not None:
        error["code"] = code
    return {"type": "error", "error": error}


def message_id(call_id: str) -> str:
    return "msg_" + call_id.replace("-", "")


# --- requests -------------------------------------------------------------------------------


def system_text(system: str | list[dict[str, Any]] | None) -> str | None:
    """The system prompt: a string, or text blocks joined by blank lines."""
    if system is None or isinstance(system, str):
        return system or None
    texts = []
    for block in system:
        if block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise ValidationFailedError("system: blocks of the system prompt must be text blocks")
        texts.append(block["text"])
    return "\n\n".join(texts) or None


def chat_messages(system: str | list[dict[str, Any]] | None, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic's turns as OpenAI-style messages: tool results become `tool` messages (before
    the rest of their user turn, as OpenAI orders them), tool uses become `tool_calls`."""
    translated: list[dict[str, Any]] = []
    prompt = system_text(system)
    if prompt:
        translated.append({"role": "system", "content": prompt})
    for index, message in enumerate(messages):
        content = message["content"]
        if isinstance(content, str):
            translated.append({"role": message["role"], "content": content})
        elif message["role"] == "assistant":
            translated.append(_assistant_turn(content, f"messages.{index}"))
        else:
            translated.extend(_user_turn(content, f"messages.{index}"))
    return translated


def _user_turn(blocks: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "tool_result":
            results.append({"role": "tool", "tool_call_id": _string(block, "tool_use_id", f"{where}.content.{i}"),
                            "content": _tool_result_text(block.get("content"), f"{where}.content.{i}")})  # fmt: skip
        elif kind == "text":
            parts.append({"type": "text", "text": _string(block, "text", f"{where}.content.{i}")})
        elif kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block, f"{where}.content.{i}")}})
        else:
            raise ValidationFailedError(f"{where}.content.{i}: a {kind!r} block is not translated by this gateway")
    if parts:
        only_text = len(parts) == 1 and parts[0]["type"] == "text"
        results.append({"role": "user", "content": parts[0]["text"] if only_text else parts})
    return results


def _assistant_turn(blocks: list[dict[str, Any]], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "text":
            texts.append(_string(block, "text", f"{where}.content.{i}"))
        elif kind == "tool_use":
            arguments = block.get("input", {})
            if not isinstance(arguments, dict):
                raise ValidationFailedError(f"{where}.content.{i}.input: an object")
            calls.append({"id": _string(block, "id", f"{where}.content.{i}"), "type": "function", "function": {
                "name": _string(block, "name", f"{where}.content.{i}"), "arguments": orjson.dumps(arguments).decode()}})  # fmt: skip
        elif kind in ("thinking", "redacted_thinking"):
            continue  # the model's own reasoning: only Anthropic reads it back, and it re-derives it
        else:
            raise ValidationFailedError(f"{where}.content.{i}: a {kind!r} block is not translated by this gateway")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _string(block: dict[str, Any], name: str, where: str) -> str:
    value = block.get(name)
    if not isinstance(value, str):
        raise ValidationFailedError(f"{where}.{name}: a string is required")
    return value


def _tool_result_text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(isinstance(b, dict) for b in content):
        return "".join(b["text"] for b in content if b.get("type") == "text" and isinstance(b.get("text"), str))
    raise ValidationFailedError(f"{where}.content: a string or a list of blocks")


def _image_url(block: dict[str, Any], where: str) -> str:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        if isinstance(media_type, str) and isinstance(data, str):
            return f"data:{media_type};base64,{data}"
    if isinstance(source, dict) and source.get("type") == "url" and isinstance(source.get("url"), str):
        return source["url"]
    raise ValidationFailedError(f"{where}.source: base64 (media_type, data) or url")


def chat_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Client tools (name, description, input_schema) as function tools."""
    if not tools:
        return None
    translated = []
    for i, tool in enumerate(tools):
        if tool.get("type") not in (None, "custom"):
            raise ValidationFailedError(f"tools.{i}: Anthropic's server tool {tool['type']!r} is not translated")
        function = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
        if tool.get("description"):
            function["description"] = tool["description"]
        translated.append({"type": "function", "function": function})
    return translated


def chat_tool_choice(choice: dict[str, Any] | None) -> str | dict[str, Any] | None:
    if choice is None:
        return None
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    modes = {"auto": "auto", "any": "required", "none": "none"}
    if kind not in modes:
        raise ValidationFailedError("tool_choice.type: one of auto, any, tool, none")
    return modes[kind]


# --- answers --------------------------------------------------------------------------------


def anthropic_usage(tokens: TokenCounts) -> dict[str, int]:
    """Anthropic counts input without the cache's reads and writes; ours includes them."""
    return {
        "input_tokens": tokens.input_tokens - tokens.cached_tokens - tokens.cache_write_tokens,
        "cache_creation_input_tokens": tokens.cache_write_tokens,
        "cache_read_input_tokens": tokens.cached_tokens,
        "output_tokens": tokens.output_tokens,
    }


def tool_input(arguments: str) -> Any:
    """A tool call's arguments as the object Anthropic's `input` is (`{}` when empty)."""
    if not arguments:
        return {}
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"_arguments": arguments}  # the model wrote broken JSON: hand it on, unparsed


def message_of(result: CallResult) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if result.reasoning or result.reasoning_signature:
        content.append({"type": "thinking", "thinking": result.reasoning, "signature": result.reasoning_signature or ""})
    if result.text:
        content.append({"type": "text", "text": result.text})
    for call in result.tool_calls or ():
        function = call["function"]
        content.append({"type": "tool_use", "id": call["id"], "name": function["name"],
                        "input": tool_input(function["arguments"])})  # fmt: skip
    return {
        "id": message_id(result.id),
        "type": "message",
        "role": "assistant",
        "model": result.model,
        "content": content,
        "stop_reason": stop_reason(result.finish_reason),
        "stop_sequence": None,
        "usage": anthropic_usage(result.tokens),
        "provider": result.request.provider.id,
        "metrics": result.metrics,
    }


class MessageEvents:
    """The call's events as Anthropic's named stream events.

    Usage is cumulative in `message_delta`, as Anthropic sends it; `message_start` carries
    zeros because an upstream other than Anthropic reports its counts only at the end.
    """

    def __init__(self) -> None:
        self._index = -1  # the open content block's index; -1 before the first
        self._open: tuple[str, int] | None = None  # ("text", 0), ("thinking", 0) or ("tool", the tool call's index)
        self._tools = OneToolAtATime(self._tool_fragment)

    def opening(self, call: Call) -> Chunk:
        message = {"id": message_id(call.id), "type": "message", "role": "assistant", "model": call.model,
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": 0, "output_tokens": 0}}  # fmt: skip
        return {"type": "message_start", "message": message}

    def delta(self, call: Call, event: OutputEvent) -> list[Chunk]:
        chunks: list[Chunk] = []
        if isinstance(event, ReasoningDelta):
            if self._open != ("thinking", 0):
                self._tools.release(chunks)
                self._start_block(chunks, {"type": "thinking", "thinking": "", "signature": ""}, ("thinking", 0))
            if event.text:
                chunks.append(self._block_delta({"type": "thinking_delta", "thinking": event.text}))
            if event.signature:
                chunks.append(self._block_delta({"type": "signature_delta", "signature": event.signature}))
            return chunks
        if isinstance(event, TextDelta):
            if self._open != ("text", 0):
                self._tools.release(chunks)
                self._start_block(chunks, {"type": "text", "text": ""}, ("text", 0))
            chunks.append(self._block_delta({"type": "text_delta", "text": event.text}))
            return chunks
        self._tools.take(chunks, event)
        return chunks

    def _tool_fragment(self, chunks: list[Chunk], fragment: ToolCallDelta) -> None:
        if self._open != ("tool", fragment.index):
            block = {"type": "tool_use", "id": fragment.id or "", "name": fragment.name or "", "input": {}}
            self._start_block(chunks, block, ("tool", fragment.index))
        if fragment.arguments:
            chunks.append(self._block_delta({"type": "input_json_delta", "partial_json": fragment.arguments}))

    def _start_block(self, chunks: list[Chunk], block: dict[str, Any], kind: tuple[str, int]) -> None:
        if self._open is not None:
            chunks.append({"type": "content_block_stop", "index": self._index})
        self._index += 1
        self._open = kind
        chunks.append({"type": "content_block_start", "index": self._index, "content_block": block})
        if self._index == 0:
            chunks.append({"type": "ping"})

    def _block_delta(self, delta: dict[str, Any]) -> Chunk:
        return {"type": "content_block_delta", "index": self._index, "delta": delta}

    def closing(self, result: CallResult) -> list[Chunk]:
        chunks: list[Chunk] = []
        self._tools.release(chunks)
        if self._open is not None:
            chunks.append({"type": "content_block_stop", "index": self._index})
        chunks.append({"type": "message_delta", "delta": {"stop_reason": stop_reason(result.finish_reason), "stop_sequence": None},
                       "usage": anthropic_usage(result.tokens), "metrics": result.metrics})  # fmt: skip
        chunks.append({"type": "message_stop"})
        return chunks

    def failure(self, error: GatewayError) -> list[Chunk]:
        return [anthropic_error(error.status_code, error.message, error.error_type)]
