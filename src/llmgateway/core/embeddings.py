"""One embedding call through the gateway: retried, bounded and recorded like a chat call.

It shares the chat call's attempt rules (`attempts.py`): retries with backoff within the
deadline and `max_attempts`, the deployment's breaker, scrubbed errors, a span per attempt.
Whatever happens (vectors, a vendor error, an unexpected exception, a timeout, a client that
leaves), `run` ends in `_finish`: one outcome, handed once to `on_finish` (the request log and
every observer), its span ended.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from opentelemetry import trace

from llmgateway.core.attempts import AttemptBudget, RetryPolicy, attempt_span, unexpected_failure
from llmgateway.core.cooldown import Cooldowns, deployment_of
from llmgateway.core.secrets import SecretScrubber
from llmgateway.errors import GatewayError, UpstreamTimeoutError
from llmgateway.metrics.pricing import cost_usd
from llmgateway.metrics.tokens import count_text_tokens
from llmgateway.providers.base import ProviderAdapter
from llmgateway.vocabulary.events import EmbeddingResult
from llmgateway.vocabulary.requests import EmbeddingRequest
from llmgateway.vocabulary.results import EmbeddingOutcome, TokenCounts


class EmbeddingCall:
    def __init__(
        self,
        request: EmbeddingRequest,
        adapter: ProviderAdapter,
        *,
        timeout_s: float,
        retry_policy: RetryPolicy,
        cooldowns: Cooldowns,
        scrubber: SecretScrubber,
        max_attempts: int,
        tracer: trace.Tracer,
        on_finish: Callable[[EmbeddingOutcome], None],
    ) -> None:
        self.request = request
        self._adapter = adapter
        elapsed = time.monotonic() - request.origin.received_at
        self._budget = AttemptBudget(asyncio.get_running_loop().time() + timeout_s - elapsed, max_attempts,
                                     retry_policy, cooldowns, scrubber)  # fmt: skip
        self._cooldowns = cooldowns
        self._tracer = tracer
        self._on_finish = on_finish
        self._span = tracer.start_span(
            f"embeddings {request.model}",
            kind=trace.SpanKind.CLIENT,
            attributes={"gen_ai.operation.name": "embeddings", "gen_ai.system": request.provider.id,
                        "gen_ai.request.model": request.model, "llmgateway.surface": request.origin.surface},
        )  # fmt: skip

    async def run(self) -> EmbeddingOutcome:
        """The vectors, timed and priced; a failure is recorded, then raised."""
        status, error, result, tokens = "cancelled", None, None, TokenCounts(0, 0)
        try:
            result = await self._attempts()
            tokens = await _token_counts(self.request, result)
            status = "success"
        except GatewayError as exc:
            status, error = "error", exc
        finally:
            outcome = self._finish(status, result, tokens, error)
        if error is not None:
            raise error
        return outcome

    async def _attempts(self) -> EmbeddingResult:
        deployment = deployment_of(self.request)
        for attempt in range(1, self.request.retries + 2):
            span = attempt_span(self._tracer, self._span, self.request, attempt)
            try:
                result = await self._attempt()
                self._cooldowns.succeeded(deployment)
                return result
            except GatewayError as exc:
                self._budget.failed(exc, self.request, self._adapter, deployment, span)
                backoff = self._budget.backoff(attempt, self.request.retries, exc)
                if backoff is None:
                    raise
            finally:
                span.end()
            await asyncio.sleep(backoff)
        raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover

    async def _attempt(self) -> EmbeddingResult:
        try:
            async with asyncio.timeout_at(self._budget.deadline):
                return await self._adapter.embed(self.request)
        except TimeoutError:
            raise UpstreamTimeoutError("the upstream did not finish within the request timeout", retryable=False) from None
        except GatewayError:
            raise
        except Exception as exc:
            raise unexpected_failure(exc, self.request.id, self.request, heard=False) from exc

    def _finish(
        self, status: str, result: EmbeddingResult | None, tokens: TokenCounts, error: GatewayError | None
    ) -> EmbeddingOutcome:
        latency_s = time.monotonic() - self.request.origin.received_at
        model = (result.model if result else None) or self.request.model
        provider = self.request.provider
        cost = cost_usd(provider.model(model) or provider.model(self.request.model), tokens)
        metrics = {
            "input_tokens": tokens.input_tokens,
            "total_tokens": tokens.input_tokens,
            "cost_usd": cost,
            "latency_s": latency_s,
            "tokens_estimated": tokens.estimated,
            "price_known": cost is not None,
        }
        outcome = EmbeddingOutcome(
            self.request, result.vectors if result else [], model, tokens, metrics,
            id=self.request.id, timestamp=time.time() - latency_s, status=status, error=error,
            attempts=self._budget.attempts,
        )  # fmt: skip
        self._span.set_attributes({"gen_ai.response.model": model, "gen_ai.usage.input_tokens": tokens.input_tokens,
                                   "llmgateway.status": status, "llmgateway.latency_s": latency_s})  # fmt: skip
        if error is not None:
            self._span.set_status(trace.Status(trace.StatusCode.ERROR, error.message))
            self._span.set_attribute("error.type", error.error_type)
        self._span.end()
        self._on_finish(outcome)
        return outcome


async def _token_counts(request: EmbeddingRequest, result: EmbeddingResult) -> TokenCounts:
    """The vendor's count, else the shipped tokenizer's (flagged), counted off the event loop."""
    if result.input_tokens is not None:
        return TokenCounts(result.input_tokens, 0)
    encoding = request.provider.tokenizer_for(request.model)

    def count() -> int:
        return sum(count_text_tokens(text, encoding) for text in request.inputs)

    return TokenCounts(await asyncio.to_thread(count), 0, estimated=True)

