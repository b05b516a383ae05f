"""OpenAI's Responses API (`POST /v1/responses`), as its API reference documents it.

Not streamed: the `response` object (`output` items: a `message` with `output_text` content,
or `function_call` items; `usage` with `input_tokens`, `output_tokens` and their details).
Streamed (`stream: true`): named server-sent events, each with its `sequence_number`:
response.created, response.in_progress; per output item response.output_item.added, for a
message response.content_part.added, response.output_text.delta..., response.output_text.done,
response.content_part.done, for a function call response.function_call_arguments.delta...,
response.function_call_arguments.done; then response.output_item.done; last
response.completed. A reasoning model's summary streams as response.reasoning_summary_text.delta.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, AsyncIterator, Callable

import orjson

from tests.emulators.base import TOOL_ARGUMENT_PIECES


class ResponsesStream:
    """One response, built as it streams: the events, and the response object at the end."""

    def __init__(self, body: dict[str, Any], model: str, reply_pieces: list[str], thinking: str | None,
                 input_tokens: int) -> None:  # fmt: skip
        self.body = body
        self.id = "resp_" + uuid.uuid4().hex
        self.model = model
        self.pieces = reply_pieces
        self.thinking = thinking
        self.input_tokens = input_tokens
        self.sequence = 0
        self.output: list[dict[str, Any]] = []

    def _response(self, status: str, usage: dict[str, Any] | None) -> dict[str, Any]:
        return {"id": self.id, "object": "response", "created_at": int(time.time()), "status": status, "error": None,
                "incomplete_details": None, "instructions": self.body.get("instructions"), "model": self.model,
                "output": list(self.output), "parallel_tool_calls": True, "previous_response_id": None,
                "temperature": self.body.get("temperature", 1.0), "tool_choice": self.body.get("tool_choice", "auto"),
                "tools": self.body.get("tools", []), "top_p": self.body.get("top_p", 1.0), "usage": usage,
                "text": self.body.get("text", {"format": {"type": "text"}}), "store": self.body.get("store", True),
                "metadata": self.body.get("metadata", {})}  # fmt: skip

    def _event(self, kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return kind, event

    async def events(self, pause: Callable[[], Any]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        yield self._event("response.created", response=self._response("in_progress", None))
        yield self._event("response.in_progress", response=self._response("in_progress", None))
        reasoning_tokens = 0
        if self.thinking:
            item = {"id": "rs_" + uuid.uuid4().hex, "type": "reasoning", "summary": []}
            yield self._event("response.output_item.added", output_index=0, item=item)
            yield self._event("response.reasoning_summary_text.delta", item_id=item["id"], output_index=0,
                              summary_index=0, delta=self.thinking)  # fmt: skip
            item = {**item, "summary": [{"type": "summary_text", "text": self.thinking}]}
            yield self._event("response.output_item.done", output_index=0, item=item)
            self.output.append(item)
            reasoning_tokens = len(self.thinking.split())
        index = len(self.output)
        tools = [t for t in self.body.get("tools") or () if t.get("type") == "function"]
        if tools and self.body.get("tool_choice") != "none":
            call = {"id": "fc_" + uuid.uuid4().hex, "type": "function_call", "status": "in_progress",
                    "call_id": "call_" + uuid.uuid4().hex[:24], "name": tools[0]["name"], "arguments": ""}  # fmt: skip
            yield self._event("response.output_item.added", output_index=index, item=call)
            for piece in TOOL_ARGUMENT_PIECES:
                await pause()
                yield self._event("response.function_call_arguments.delta", item_id=call["id"], output_index=index, delta=piece)
            arguments = "".join(TOOL_ARGUMENT_PIECES)
            yield self._event("response.function_call_arguments.done", item_id=call["id"], output_index=index, arguments=arguments)
            call = {**call, "status": "completed", "arguments": arguments}
            yield self._event("response.output_item.done", output_index=index, item=call)
            self.output.append(call)
            output_tokens = 12
        else:
            message = {"id": "msg_" + uuid.uuid4().hex, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
            yield self._event("response.output_item.added", output_index=index, item=message)
            part = {"type": "output_text", "text": "", "annotations": []}
            where = {"item_id": message["id"], "output_index": index, "content_index": 0}
            yield self._event("response.content_part.added", **where, part=part)
            for piece in self.pieces:
                await pause()
                yield self._event("response.output_text.delta", **where, delta=piece, logprobs=[])
            text = "".join(self.pieces)
            yield self._event("response.output_text.done", **where, text=text, logprobs=[])
            part = {**part, "text": text}
            yield self._event("response.content_part.done", **where, part=part)
            message = {**message, "status": "completed", "content": [part]}
            yield self._event("response.output_item.done", output_index=index, item=message)
            self.output.append(message)
            output_tokens = len(self.pieces)
        usage = {"input_tokens": self.input_tokens, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": output_tokens + reasoning_tokens,
                 "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
                 "total_tokens": self.input_tokens + output_tokens + reasoning_tokens}  # fmt: skip
        yield self._event("response.completed", response=self._response("completed", usage))


def encode(kind: str, event: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def input_tokens(body: dict[str, Any]) -> int:
    """The emulator's count: 5, and a token per word of the input's text."""
    items = body.get("input")
    if isinstance(items, str):
        return 5 + len(items.split())
    words = 0
    for item in items or ():
        content = item.get("content") if isinstance(item, dict) else None
        if isinstance(content, str):
            words += len(content.split())
        for part in content if isinstance(content, list) else ():
            words += len(str(part.get("text", "")).split())
    return 5 + words
