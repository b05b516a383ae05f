"""The events a provider adapter yields, in the gateway's own vocabulary.

Plain slotted classes, not pydantic models: they are built once per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class TextDelta:
    """New output text."""

    text: str


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of a tool call: its id and name come first, the arguments in pieces."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class ReasoningDelta:
    """The model's reasoning as it streams (Anthropic's thinking, `reasoning_content` of
    OpenAI-compatible servers): not part of the answer's text. `signature` is Anthropic's seal
    on a thinking block, which its API needs back with the block in a later turn."""

    text: str
    signature: str | None = None


@dataclass(slots=True)
class Usage:
    """Token counts as the vendor reports them.

    `input_tokens` includes cached input and cache writes; `output_tokens` includes
    reasoning tokens.
    """

    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(slots=True)
class Finish:
    """Why the model stopped, in OpenAI's vocabulary (stop, length, tool_calls, content_filter)."""

    reason: str


@dataclass(slots=True)
class ResponseInfo:
    """What the vendor says about the response: the model that served it, its id."""

    model: str | None = None
    response_id: str | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None


@dataclass(slots=True)
class EmbeddingResult:
    vectors: list[Any]  # lists of floats, or base64 strings when asked for
    input_tokens: int | None
    model: str | None


ChatEvent = TextDelta | ToolCallDelta | ReasoningDelta | Usage | Finish | ResponseInfo
OUTPUT_EVENTS = (TextDelta, ToolCallDelta)  # what the answer is made of, and what the timings measure
OutputEvent = TextDelta | ToolCallDelta | ReasoningDelta  # what a call passes on to its client
