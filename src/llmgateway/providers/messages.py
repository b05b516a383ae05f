"""Reading OpenAI-style messages, the shape every adapter translates from.

Helpers shared by the adapters of vendors whose wire formats differ from OpenAI's: split off
the system prompt, read content parts and images, parse tool-call arguments.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import orjson

from llmgateway.errors import BadRequestError
from llmgateway.vocabulary.requests import message_text

_DATA_URL = re.compile(r"^data:(?P<media_type>[\w.+-]+/[\w.+-]+);base64,(?P<data>.+)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Image:
    """An image of a user message: inline bytes (base64) or a URL."""

    media_type: str | None = None
    data: str | None = None  # base64
    url: str | None = None

    def raw_bytes(self) -> bytes:
        assert self.data is not None
        return base64.b64decode(self.data)


def split_system(messages: Iterable[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """(the system and developer messages' text joined, the other messages)."""
    system: list[str] = []
    rest: list[dict[str, Any]] = []
    for message in messages:
        if message.get("role") in ("system", "developer"):
            system.append(message_text(message))
        else:
            rest.append(message)
    return ("\n\n".join(system) if system else None), rest


def content_parts(message: dict[str, Any]) -> Iterator[str | Image]:
    """A message's content as text pieces and images, in order."""
    content = message.get("content")
    if content is None:
        return
    if isinstance(content, str):
        if content:
            yield content
        return
    for part in content:
        kind = part.get("type")
        if kind == "text":
            yield part.get("text", "")
        elif kind == "image_url":
            yield parse_image((part.get("image_url") or {}).get("url", ""))
        else:
            raise BadRequestError(f"content part of type {kind!r} is not supported by this provider")


def text_of(message: dict[str, Any]) -> str:
    """The text parts of a message, joined (a tool result's content)."""
    return "".join(part for part in content_parts(message) if isinstance(part, str))


def merged_turns(
    messages: Iterable[dict[str, Any]], blocks_of: Callable[[dict[str, Any]], list[Any]], assistant: str = "assistant"
) -> list[tuple[str, list[Any]]]:
    """(role, blocks) turns for vendors whose roles alternate (user, and `assistant` for the
    model): tool results count as the user's, and neighbours of one role are merged."""
    turns: list[tuple[str, list[Any]]] = []
    for message in messages:
        role = assistant if message["role"] == "assistant" else "user"
        blocks = blocks_of(message)
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    return turns


def parse_image(url: str) -> Image:
    """A `data:` URL becomes inline bytes; an http(s) URL stays a URL."""
    match = _DATA_URL.match(url)
    if match:
        data = match.group("data").strip()
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequestError("image_url: the data URL does not hold valid base64") from None
        return Image(media_type=match.group("media_type"), data=data)
    if url.startswith(("http://", "https://")):
        return Image(url=url)
    raise BadRequestError("image_url: expected an http(s) URL or a base64 data URL")


def tool_arguments(call: dict[str, Any]) -> dict[str, Any]:
    """A tool call's JSON arguments as an object (vendors other than OpenAI want objects)."""
    raw = (call.get("function") or {}).get("arguments") or "{}"
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequestError("tool_calls: function.arguments must be a JSON object") from None
    if not isinstance(value, dict):
        raise BadRequestError("tool_calls: function.arguments must be a JSON object")
    return value


def json_schema_of(response_format: dict[str, Any] | None) -> tuple[str, dict[str, Any] | None] | None:
    """("json_object", None) or ("json_schema", schema) for a response_format; None for text."""
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "json_object", None
    if kind == "json_schema":
        return "json_schema", (response_format.get("json_schema") or {}).get("schema") or {}
    if kind in (None, "text"):
        return None
    raise BadRequestError(f"response_format: unknown type {kind!r}")


def tool_choice_mode(tool_choice: str | dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(mode, function name): mode is auto, required, none or function."""
    if tool_choice is None:
        return None, None
    if isinstance(tool_choice, str):
        return tool_choice, None
    return "function", (tool_choice.get("function") or {}).get("name")
