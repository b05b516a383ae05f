"""Bounds on what one request may hold, so that hostile input costs a 422, not the gateway.

The body size is bounded at intake (413); the rest here, each violation named with its limit
and the setting that raises it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from llmgateway.errors import ValidationFailedError
from llmgateway.settings import Settings


def check_request_limits(
    settings: Settings,
    messages: list[dict[str, Any]],
    parameters: dict[str, Any] | None,
    tools: list[dict[str, Any]] | None,
    response_format: dict[str, Any] | None,
) -> None:
    if len(messages) > settings.max_messages:
        raise ValidationFailedError(
            f"chat_input: {len(messages)} messages, more than the limit of {settings.max_messages} (LLMGATEWAY_MAX_MESSAGES)"
        )
    for index, message in enumerate(messages):
        content = message.get("content")
        size = _content_chars(content)
        if size > settings.max_message_chars:
            raise ValidationFailedError(
                f"chat_input[{index}]: {size} characters, more than the limit of {settings.max_message_chars} "
                "(LLMGATEWAY_MAX_MESSAGE_CHARS)"
            )
        if isinstance(content, str):
            _check_text(f"chat_input[{index}].content", content)
        elif isinstance(content, list):
            _check_json(f"chat_input[{index}].content", content, settings.max_json_depth)
        if message.get("tool_calls"):
            _check_json(f"chat_input[{index}].tool_calls", message["tool_calls"], settings.max_json_depth)
    if tools is not None and len(tools) > settings.max_tools:
        raise ValidationFailedError(f"tools: {len(tools)} tools, more than the limit of {settings.max_tools} (LLMGATEWAY_MAX_TOOLS)")
    for field, value in (("parameters", parameters), ("tools", tools), ("response_format", response_format)):
        if value is not None:
            _check_json(field, value, settings.max_json_depth)


def _content_chars(content: Any) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content)
    total = 0
    for part in content:  # a part's text, image URL or data; its `type` is not content
        for key, value in part.items():
            if key == "type":
                continue
            if isinstance(value, str):
                total += len(value)
            elif isinstance(value, dict):
                total += sum(len(v) for v in value.values() if isinstance(v, str))
    return total


_INT64 = range(-(2**63), 2**63)
# JSON's parser turns an escaped pair into one character: a surrogate left in a str is a lone
# one, which no UTF-8 encoder (the vendors' SDKs, the request log) takes.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(field: str, text: str) -> None:
    if _LONE_SURROGATE.search(text):
        raise ValidationFailedError(f"{field}: a lone UTF-16 surrogate (\\ud800-\\udfff) is not text")


def _check_json(field: str, value: Any, limit: int) -> None:
    """What no vendor, log or JSON encoder takes: nesting past `limit`, integers past 64 bits,
    NaN and infinities, lone surrogates."""
    if _depth(field, value, limit) > limit:
        raise ValidationFailedError(f"{field}: nested deeper than the limit of {limit} levels (LLMGATEWAY_MAX_JSON_DEPTH)")


def _depth(field: str, value: Any, limit: int, level: int = 1) -> int:
    """How deeply `value` nests, counting no further than just past `limit`."""
    if isinstance(value, str):
        _check_text(field, value)
    elif isinstance(value, int) and value not in _INT64:
        raise ValidationFailedError(f"{field}: an integer past 64 bits")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValidationFailedError(f"{field}: {value} is not a JSON number")
    if level > limit or not isinstance(value, (dict, list)):
        return level
    if isinstance(value, dict):
        for key in value:
            _check_text(field, str(key))
    children = value.values() if isinstance(value, dict) else value
    return max((_depth(field, child, limit, level + 1) for child in children), default=level)
