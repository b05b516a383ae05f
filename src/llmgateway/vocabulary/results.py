"""What a finished call is: its token counts, and the results of chat and embedding calls,
as the request log, the observers and the API surfaces read them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from llmgateway.errors import GatewayError
from llmgateway.vocabulary.ids import new_call_id
from llmgateway.vocabulary.requests import ChatRequest, EmbeddingRequest


@dataclass(frozen=True, slots=True)
class TokenCounts:
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class CallResult:
    """A finished call: what it answered, what it cost, how fast it was."""

    id: str
    request: ChatRequest
    timestamp: float
    status: str  # "success", "error" or "cancelled"
    text: str
    tool_calls: list[dict[str, Any]] | None
    finish_reason: str | None
    model: str
    response_id: str | None
    system_fingerprint: str | None
    service_tier: str | None
    tokens: TokenCounts
    metrics: dict[str, Any]
    attempts: list[dict[str, Any]] = field(default_factory=list)
    error: GatewayError | None = None
    reasoning: str = ""  # the model's reasoning, where the vendor streams it (not in the answer's text)
    reasoning_signature: str | None = None


@dataclass(slots=True)
class EmbeddingOutcome:
    """A finished embedding call; `status` and `error` as a chat call's."""

    request: EmbeddingRequest
    vectors: list[Any]
    model: str
    tokens: TokenCounts
    metrics: dict[str, Any]
    id: str = field(default_factory=new_call_id)
    timestamp: float = field(default_factory=time.time)
    status: str = "success"
    error: GatewayError | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
