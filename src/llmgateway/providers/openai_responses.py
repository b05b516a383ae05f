"""OpenAI's Responses stream, read as the gateway's events: for a Responses API client whose
request goes to OpenAI as it sent it (`ChatRequest.native_body`), so that what the gateway
does not model (reasoning summaries, `include`, `truncation`, `metadata`, ...) still arrives.

Text deltas are text, reasoning summary and reasoning text deltas are reasoning, function call
items are tool calls (numbered in the order they open); `response.completed` (or
`.incomplete`) brings the usage and the finish; `response.failed` and `error` are stream errors.
"""

from __future__ import annotations

from typing import Any, Iterator

from llmgateway.errors import upstream_stream_error
from llmgateway.vocabulary.events import (
    ChatEvent,
    Finish,
    ReasoningDelta,
    ResponseInfo,
    TextDelta,
    ToolCallDelta,
    Usage,
)

_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


class ResponsesTranslator:
    def __init__(self) -> None:
        self._calls: dict[str, int] = {}  # a function call item's id -> its tool call index

    def translate(self, data: dict[str, Any]) -> Iterator[ChatEvent]:
        kind = data["type"]
        if kind == "response.created":
            response = data["response"]
            yield ResponseInfo(response.get("model"), response.get("id"), None, response.get("service_tier"))
        elif kind in ("response.output_text.delta", "response.refusal.delta"):
            if data["delta"]:
                yield TextDelta(data["delta"])
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            if data["delta"]:
                yield ReasoningDelta(data["delta"])
        elif kind == "response.output_item.added" and data["item"]["type"] == "function_call":
            item = data["item"]
            index = self._calls[item["id"]] = len(self._calls)
            yield ToolCallDelta(index, item["call_id"], item["name"], item.get("arguments") or "")
        elif kind == "response.function_call_arguments.delta":
            yield ToolCallDelta(self._calls[data["item_id"]], arguments=data["delta"])
        elif kind in ("response.completed", "response.incomplete"):
            response = data["response"]
            usage = response.get("usage") or {}
            yield Usage(
                input_tokens=usage.get("input_tokens") or 0,
                output_tokens=usage.get("output_tokens") or 0,
                cached_tokens=(usage.get("input_tokens_details") or {}).get("cached_tokens") or 0,
                reasoning_tokens=(usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0,
            )
            if kind == "response.incomplete":
                yield Finish(_INCOMPLETE.get((response.get("incomplete_details") or {}).get("reason"), "length"))
            else:
                yield Finish("tool_calls" if self._calls else "stop")
        elif kind == "response.failed":
            error = data["response"].get("error") or {}
            raise upstream_stream_error(error.get("code"), str(error.get("message", "")))
        elif kind == "error":
            raise upstream_stream_error(data.get("code"), str(data.get("message", "")))
