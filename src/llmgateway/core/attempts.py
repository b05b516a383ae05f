"""What every upstream call shares, chat or embeddings: when to retry, how long to back off,
what a failed attempt leaves behind (its scrubbed error, a line in `attempts`, a cooldown
count, an ended span), and what an exception nobody expected becomes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from pydantic import ValidationError

from llmgateway.core.cooldown import Cooldowns
from llmgateway.core.secrets import SecretScrubber
from llmgateway.errors import GatewayError, InternalError, upstream_protocol_error
from llmgateway.providers.base import ProviderAdapter
from llmgateway.vocabulary.requests import ChatRequest, EmbeddingRequest, key_of

logger = logging.getLogger("llmgateway.call")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0

    def delay(self, attempt: int, error: GatewayError) -> float:
        """Exponential backoff with full jitter, or the vendor's Retry-After, capped."""
        retry_after = error.headers.get("Retry-After")
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), self.backoff_max_s)
            except ValueError:
                pass
        return random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1)))


@dataclass(slots=True)
class AttemptBudget:
    """One request's upstream attempts: bounded by its deadline (event-loop time) and by the
    gateway's `max_attempts`, whatever its retries and fallbacks ask for."""

    deadline: float
    max_attempts: int
    policy: RetryPolicy
    cooldowns: Cooldowns
    scrubber: SecretScrubber
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def spent(self) -> bool:
        """No time or attempts left for another upstream call."""
        return asyncio.get_running_loop().time() >= self.deadline or len(self.attempts) >= self.max_attempts

    def failed(
        self,
        error: GatewayError,
        target: ChatRequest | EmbeddingRequest,
        adapter: ProviderAdapter,
        deployment: str,
        span: trace.Span,
    ) -> None:
        """Account for a failed attempt: its error scrubbed of every credential of the target
        (in place, before anyone reads it), its span marked, its line in `attempts`, and a
        retryable failure counted against the deployment's breaker."""
        self.scrubber.scrub_error(error, (key_of(target), *adapter.credentials(target)))
        span.set_status(trace.Status(trace.StatusCode.ERROR, error.message))
        span.set_attribute("error.type", error.error_type)
        self.attempts.append({"provider": target.provider.id, "model": target.model,
                              "status_code": error.status_code, "error": error.message})  # fmt: skip
        if error.retryable:
            self.cooldowns.failed(deployment)

    def may_move_on(self, error: GatewayError) -> bool:
        """Whether another attempt (on this target or the next) may follow this failure."""
        return error.retryable and not self.spent()

    def backoff(self, attempt: int, retries: int, error: GatewayError) -> float | None:
        """Seconds to wait before retrying the same target, or None when the target is done
        (out of retries, or the wait would pass the deadline: the next target, at once)."""
        if attempt > retries or not self.may_move_on(error):
            return None
        delay = self.policy.delay(attempt, error)
        if asyncio.get_running_loop().time() + delay >= self.deadline:
            return None
        return delay


def attempt_span(tracer: trace.Tracer, parent: trace.Span, target: ChatRequest | EmbeddingRequest, attempt: int) -> trace.Span:
    return tracer.start_span(
        f"attempt {target.provider.id}/{target.model}",
        context=trace.set_span_in_context(parent),
        attributes={"gen_ai.system": target.provider.id, "gen_ai.request.model": target.model,
                    "llmgateway.attempt": attempt},
    )  # fmt: skip


def unexpected_failure(exc: Exception, request_id: str, target: ChatRequest | EmbeddingRequest, *, heard: bool) -> GatewayError:
    """An exception an adapter did not expect, typed: a 502 `upstream_protocol_error` once the
    vendor has said something, or when it is a parse failure (its data was unreadable), else a
    500 `internal_error` naming the request. Logged here, with its traceback, once."""
    logger.error("request %s: unexpected failure calling %s/%s", request_id, target.provider.id, target.model,
                 exc_info=exc)  # fmt: skip
    if heard or isinstance(exc, (ValidationError, json.JSONDecodeError)):
        return upstream_protocol_error(exc)
    return InternalError(f"the gateway failed unexpectedly on request {request_id}; see its log")
