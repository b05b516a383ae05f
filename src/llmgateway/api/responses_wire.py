"""OpenAI's Responses API wire format, to and from the gateway's own.

`input` (a string or items) and `instructions` become OpenAI-style chat messages; function
tools, `tool_choice` and `text.format` become the gateway's tools and response format. A
finished call becomes a `response` object, and a call's events become the Responses stream:
response.created, response.in_progress, then per output item output_item.added, (for a
message) content_part.added, output_text.delta..., output_text.done, content_part.done, (for
a function call) function_call_arguments.delta..., function_call_arguments.done, then
output_item.done; last response.completed (or response.incomplete, or response.failed).
Every event carries its `sequence_number`.
"""

from __future__ import annotations

from typing import Any

from llmgateway.api.sse import Chunk, OutputEvent
from llmgateway.api.tool_order import OneToolAtATime
from llmgateway.core.call import Call
from llmgateway.errors import GatewayError, ValidationFailedError
from llmgateway.vocabulary.events import ReasoningDelta, TextDelta, ToolCallDelta
from llmgateway.vocabulary.results import CallResult, TokenCounts

_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}


# --- requests -------------------------------------------------------------------------------


def chat_messages(instructions: str | None, items: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`instructions` and `input` as OpenAI-style chat messages: function calls join the
    assistant turn before them, function call outputs become `tool` messages."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": instructions}] if instructions else []
    if isinstance(items, str):
        return [*messages, {"role": "user", "content": items}]
    for i, item in enumerate(items):
        kind = item.get("type", "message")
        where = f"input.{i}"
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            call = {"id": _string(item, "call_id", where), "type": "function",
                    "function": {"name": _string(item, "name", where), "arguments": _string(item, "arguments", where)}}  # fmt: skip
            if not messages or messages[-1]["role"] != "assistant":
                messages.append({"role": "assistant", "content": None})
            messages[-1].setdefault("tool_calls", []).append(call)
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else _text_of_parts(output, f"{where}.output")
            messages.append({"role": "tool", "tool_call_id": _string(item, "call_id", where), "content": text})
        elif kind == "reasoning":
            continue  # a reasoning model's summary of its own: not an input other vendors read
        else:
            raise ValidationFailedError(f"{where}: an item of type {kind!r} is not translated by this gateway")
    return messages


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = _ROLES.get(item.get("role", ""))
    if role is None:
        raise ValidationFailedError(f"{where}.role: one of user, assistant, system, developer")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise ValidationFailedError(f"{where}.content: a string or a list of parts")
    if role != "user":
        return {"role": role, "content": _text_of_parts(content, f"{where}.content")}
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text"):
            parts.append({"type": "text", "text": _string(part, "text", f"{where}.content.{j}")})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            image = {"url": part["image_url"], **({"detail": part["detail"]} if part.get("detail") else {})}
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise ValidationFailedError(f"{where}.content.{j}: a part of type {kind!r} is not translated by this gateway")
    return {"role": role, "content": parts}


def _text_of_parts(parts: Any, where: str) -> str:
    if not isinstance(parts, list):
        raise ValidationFailedError(f"{where}: a string or a list of parts")
    texts = []
    for j, part in enumerate(parts):
        if not isinstance(part, dict) or part.get("type") not in ("input_text", "output_text", "refusal"):
            raise ValidationFailedError(f"{where}.{j}: only text parts are translated here")
        texts.append(_string(part, "refusal" if part["type"] == "refusal" else "text", f"{where}.{j}"))
    return "".join(texts)


def _string(item: dict[str, Any], name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str):
        raise ValidationFailedError(f"{where}.{name}: a string is required")
    return value


def chat_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Function tools (flat, as the Responses API writes them) as chat function tools."""
    if not tools:
        return None
    translated = []
    for i, tool in enumerate(tools):
        if tool.get("type") != "function":
            raise ValidationFailedError(f"tools.{i}: the hosted tool {tool.get('type')!r} is not translated by this gateway")
        function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
        translated.append({"type": "function", "function": function})
    return translated


def chat_tool_choice(choice: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
    if choice is None or isinstance(choice, str):
        return choice
    if choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise ValidationFailedError("tool_choice: auto, none, required or {type: function, name}")


def response_format(text: dict[str, Any] | None) -> dict[str, Any] | None:
    """`text.format` as a chat `response_format` (plain text needs none)."""
    fmt = (text or {}).get("format")
    if not fmt or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
        return {"type": "json_schema", "json_schema": schema}
    raise ValidationFailedError("text.format.type: one of text, json_object, json_schema")


# --- answers --------------------------------------------------------------------------------


def responses_usage(tokens: TokenCounts) -> dict[str, Any]:
    return {
        "input_tokens": tokens.input_tokens,
        "input_tokens_details": {"cached_tokens": tokens.cached_tokens},
        "output_tokens": tokens.output_tokens,
        "output_tokens_details": {"reasoning_tokens": tokens.reasoning_tokens},
        "total_tokens": tokens.total_tokens,
    }


def _message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    content = [] if status == "in_progress" else [_text_part(text)]
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _function_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id, "name": name,
            "arguments": arguments}  # fmt: skip


# Output item ids derive from the response's (`resp_<hex>`), so a stored response reads back
# with the ids it streamed.
def _message_item_id(response_id: str) -> str:
    return f"msg_{response_id[5:]}"


def _function_item_id(response_id: str, index: int) -> str:
    return f"fc_{response_id[5:]}_{index}"


def output_items(response_id: str, text: str | None, tool_calls: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The output of a finished answer."""
    items = [_message_item(_message_item_id(response_id), text, "completed")] if text else []
    for i, call in enumerate(tool_calls or ()):
        function = call["function"]
        items.append(_function_item(_function_item_id(response_id, i), call["id"], function["name"], function["arguments"],
                                    "completed"))  # fmt: skip
    return items


class ResponseShape:
    """The `response` object: what the request set (echoed, as OpenAI echoes it) and the answer."""

    def __init__(self, response_id: str, echo: dict[str, Any]) -> None:
        self.id = response_id
        self.echo = echo

    def skeleton(self, created_at: float, model: str, status: str) -> dict[str, Any]:
        return {
            "id": self.id, "object": "response", "created_at": int(created_at), "status": status, "error": None,
            "incomplete_details": None, "model": model, "output": [], "usage": None, **self.echo,
        }  # fmt: skip

    def __call__(self, result: CallResult) -> dict[str, Any]:
        return self.finished(result.timestamp, result.model, result.text, result.tool_calls, result.finish_reason,
                             result.tokens, result.metrics) | {"provider": result.request.provider.id}  # fmt: skip

    def finished(self, created_at: float, model: str, text: str | None, tool_calls: list[dict[str, Any]] | None,
                 finish_reason: str | None, tokens: TokenCounts, metrics: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
        response = self.skeleton(created_at, model, "incomplete" if finish_reason == "length" else "completed")
        if finish_reason == "length":
            response["incomplete_details"] = {"reason": "max_output_tokens"}
        response.update(output=output_items(self.id, text, tool_calls), usage=responses_usage(tokens), metrics=metrics)
        return response


class ResponseEvents:
    """The call's events as the Responses API's stream."""

    def __init__(self, shape: ResponseShape) -> None:
        self._shape = shape
        self._sequence = -1
        self._output_index = -1
        self._item: dict[str, Any] | None = None  # the open output item, as it will read when done
        self._tool_index: int | None = None
        self._tools = OneToolAtATime(self._tool_fragment)
        self._started: tuple[float, str] = (0.0, "")  # created_at and model, for a failure's response

    def _event(self, kind: str, **fields: Any) -> Chunk:
        self._sequence += 1
        return {"type": kind, "sequence_number": self._sequence, **fields}

    def opening(self, call: Call) -> list[Chunk]:
        self._started = (call.timestamp, call.model)
        created = self._shape.skeleton(call.timestamp, call.model, "in_progress")
        return [self._event("response.created", response=created), self._event("response.in_progress", response=created)]

    def delta(self, call: Call, event: OutputEvent) -> list[Chunk]:
        chunks: list[Chunk] = []
        if isinstance(event, ReasoningDelta):
            return chunks  # a reasoning item's text is OpenAI's own: not made up for other vendors' reasoning
        if isinstance(event, TextDelta):
            if self._item is None or self._item["type"] != "message":
                self._tools.release(chunks)
                self._close(chunks)
                self._open(chunks, _message_item(_message_item_id(self._shape.id), "", "in_progress"))
                chunks.append(self._event("response.content_part.added", item_id=self._item_id, output_index=self._output_index,
                                          content_index=0, part=_text_part("")))  # fmt: skip
                self._item = _message_item(self._item_id, "", "completed")
            self._item["content"][0]["text"] += event.text
            chunks.append(self._event("response.output_text.delta", item_id=self._item_id, output_index=self._output_index,
                                      content_index=0, delta=event.text, logprobs=[]))  # fmt: skip
            return chunks
        self._tools.take(chunks, event)
        return chunks

    def _tool_fragment(self, chunks: list[Chunk], fragment: ToolCallDelta) -> None:
        if self._item is None or self._item["type"] != "function_call" or self._tool_index != fragment.index:
            self._close(chunks)
            item_id = _function_item_id(self._shape.id, fragment.index)
            self._open(chunks, _function_item(item_id, fragment.id or "", fragment.name or "", "", "in_progress"))
            self._item = _function_item(item_id, fragment.id or "", fragment.name or "", "", "completed")
            self._tool_index = fragment.index
        if fragment.arguments:
            self._item["arguments"] += fragment.arguments
            chunks.append(self._event("response.function_call_arguments.delta", item_id=self._item_id,
                                      output_index=self._output_index, delta=fragment.arguments))  # fmt: skip

    @property
    def _item_id(self) -> str:
        assert self._item is not None
        return self._item["id"]

    def _open(self, chunks: list[Chunk], item: dict[str, Any]) -> None:
        self._output_index += 1
        self._item = item
        chunks.append(self._event("response.output_item.added", output_index=self._output_index, item=item))

    def _close(self, chunks: list[Chunk]) -> None:
        item = self._item
        if item is None:
            return
        where = {"item_id": item["id"], "output_index": self._output_index}
        if item["type"] == "message":
            part = item["content"][0]
            chunks.append(self._event("response.output_text.done", **where, content_index=0, text=part["text"], logprobs=[]))
            chunks.append(self._event("response.content_part.done", **where, content_index=0, part=part))
        else:
            chunks.append(self._event("response.function_call_arguments.done", **where, name=item["name"],
                                      arguments=item["arguments"]))  # fmt: skip
        chunks.append(self._event("response.output_item.done", output_index=self._output_index, item=item))
        self._item = None

    def closing(self, result: CallResult) -> list[Chunk]:
        chunks: list[Chunk] = []
        self._tools.release(chunks)
        self._close(chunks)
        response = self._shape(result)
        kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        chunks.append(self._event(kind, response=response))
        return chunks

    def failure(self, error: GatewayError) -> list[Chunk]:
        failed = self._shape.skeleton(*self._started, "failed")
        failed["error"] = {"code": error.error_type, "message": error.message}
        return [self._event("response.failed", response=failed)]
