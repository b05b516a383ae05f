"""Bounds on what one request may hold, so that hostile input costs a 422, not the gateway.

The body size is bounded at intake (413); the rest here, each violation named with its limit
and the setting that raises it.
"""

from __future__ import annotations

from typing import Any

from llmgateway.core.errors import ValidationFailedError
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
        size = _content_chars(message.get("content"))
        if size > settings.max_message_chars:
            raise ValidationFailedError(
                f"chat_input[{index}]: {size} characters, more than the limit of {settings.max_message_chars} "
                "(LLMGATEWAY_MAX_MESSAGE_CHARS)"
            )
    if tools is not None and len(tools) > settings.max_tools:
        raise ValidationFailedError(f"tools: {len(tools)} tools, more than the limit of {settings.max_tools} (LLMGATEWAY_MAX_TOOLS)")
    for field, value in (("parameters", parameters), ("tools", tools), ("response_format", response_format)):
        if value is not None and _depth(value, settings.max_json_depth) > settings.max_json_depth:
            raise ValidationFailedError(
                f"{field}: nested deeper than the limit of {settings.max_json_depth} levels (LLMGATEWAY_MAX_JSON_DEPTH)"
            )


def _content_chars(content: Any) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content)
    total = 0
    for part in content:
        for value in part.values():
            if isinstance(value, str):
                total += len(value)
            elif isinstance(value, dict):
                total += sum(len(v) for v in value.values() if isinstance(v, str))
    return total


def _depth(value: Any, limit: int, level: int = 1) -> int:
    """How deeply `value` nests, counting no further than just past `limit`."""
    if level > limit or not isinstance(value, (dict, list)):
        return level
    children = value.values() if isinstance(value, dict) else value
    return max((_depth(child, limit, level + 1) for child in children), default=level)
