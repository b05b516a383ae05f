"""One call through the gateway: the upstream stream watched, retried and accumulated.

Every API surface consumes a `Call` the same way: iterate `output()` (text and tool-call
fragments, as they arrive), then read `await finish()` for the assembled answer with its
metrics. A non-streaming request is a streamed call assembled at the end, which is how time
to first token exists for every request.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import aclosing
from typing import Any, AsyncIterator, Awaitable, Callable

from opentelemetry import trace

from llmgateway.core.attempts import AttemptBudget, RetryPolicy, attempt_span, unexpected_failure
from llmgateway.core.cache import CachedAnswer, CacheUse
from llmgateway.core.cooldown import Cooldowns, deployment_of
from llmgateway.core.secrets import SecretScrubber
from llmgateway.core.upstream_watch import UpstreamWatch
from llmgateway.errors import GatewayError, UpstreamError, UpstreamTimeoutError
from llmgateway.metrics.collector import MetricsCollector
from llmgateway.metrics.pricing import cost_usd
from llmgateway.metrics.report import build_metrics
from llmgateway.metrics.tokens import count_message_tokens, count_text_tokens
from llmgateway.providers.base import ProviderAdapter
from llmgateway.vocabulary.events import (
    ChatEvent,
    Finish,
    OutputEvent,
    ReasoningDelta,
    ResponseInfo,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llmgateway.vocabulary.ids import new_call_id
from llmgateway.vocabulary.requests import ChatRequest
from llmgateway.vocabulary.results import CallResult, TokenCounts

_NOOP_TRACER = trace.NoOpTracer()


class Call:
    """One request's way to an answer: its targets tried in order, each with its retries.

    `targets` are the primary request first, then its fallbacks (and, for a route, its other
    deployments). A retryable failure is retried on the same target with backoff, then the
    next target is tried, as long as nothing has reached the client and fewer than
    `max_attempts` upstream calls were made. Every error an adapter raises is scrubbed of
    credentials here, before the client, the record, a log or a span sees it.
    """

    def __init__(
        self,
        targets: list[ChatRequest],
        adapters: Callable[[str], ProviderAdapter],
        *,
        received_at: float,
        timeout_s: float,
        first_token_timeout_s: float | None,
        retry_policy: RetryPolicy,
        cooldowns: Cooldowns,
        scrubber: SecretScrubber,
        max_attempts: int,
        on_finish: Callable[[CallResult], Awaitable[None]] | None = None,
        tracer: trace.Tracer | None = None,
        cache: CacheUse | None = None,
    ) -> None:
        self.id = new_call_id()
        self.request = targets[0]
        self.timestamp = time.time()
        self._targets = targets
        self._adapters = adapters
        self._collector = MetricsCollector(started_at=received_at)
        elapsed = time.monotonic() - received_at
        self._budget = AttemptBudget(asyncio.get_running_loop().time() + timeout_s - elapsed, max_attempts,
                                     retry_policy, cooldowns, scrubber)  # fmt: skip
        self._first_token_timeout_s = first_token_timeout_s
        self._first_token_deadline: float | None = None  # per attempt
        self._cooldowns = cooldowns
        self._on_finish = on_finish
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._reasoning_signature: str | None = None
        self._tool_calls: dict[int, dict[str, Any]] = {}
        self._finish_reason: str | None = None
        self._usage: Usage | None = None
        self._info = ResponseInfo()
        self._status = "cancelled"
        self._error: GatewayError | None = None
        self._result: CallResult | None = None
        self._emitted = False
        self._cache = cache
        self._recorded: list[tuple[float, ChatEvent]] = []  # this attempt's events, for the cache
        self._attempt_started = 0.0
        self._tracer = tracer or _NOOP_TRACER
        self._span = self._tracer.start_span(
            f"chat {self.request.model}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.system": self.request.provider.id,
                "gen_ai.request.model": self.request.model,
                "llmgateway.request_id": self.id,
                "llmgateway.surface": self.request.origin.surface,
            },
        )

    @property
    def model(self) -> str:
        """The model that serves the call, as the vendor names it once it has said so."""
        return self._info.model or self.request.model

    @property
    def service_tier(self) -> str | None:
        return self._info.service_tier

    @property
    def system_fingerprint(self) -> str | None:
        return self._info.system_fingerprint

    @property
    def cache_status(self) -> str | None:
        """hit, miss or bypass when the gateway caches answers and this request may be cached."""
        return self._cache.status if self._cache is not None else None

    @property
    def cache_key(self) -> str | None:
        return self._cache.key if self._cache is not None else None

    async def output(self) -> AsyncIterator[OutputEvent]:
        """The output events of the first target that answers (or of the cached answer)."""
        if self._cache is not None and self._cache.answer is not None:
            async for event in self._replayed(self._cache.answer.events):
                yield event
            self._status = "success"
            return
        error: GatewayError | None = None
        for target in self._targets:
            self.request = target
            try:
                async for event in self._target_output(target):
                    yield event
                self._status = "success"
                return
            except GatewayError as exc:
                error = exc
                if self._emitted or not self._budget.may_move_on(exc):
                    break
        assert error is not None
        self._status, self._error = "error", error
        raise error

    async def _target_output(self, target: ChatRequest) -> AsyncIterator[OutputEvent]:
        deployment = deployment_of(target)
        adapter = self._adapters(target.provider.adapter)
        for attempt in range(1, target.retries + 2):
            if self._first_token_timeout_s is not None:
                self._first_token_deadline = asyncio.get_running_loop().time() + self._first_token_timeout_s
            span = attempt_span(self._tracer, self._span, target, attempt)
            try:
                async for event in self._attempt(adapter, target):
                    yield event
                self._cooldowns.succeeded(deployment)
                return
            except GatewayError as exc:
                self._budget.failed(exc, target, adapter, deployment, span)
                backoff = None if self._emitted else self._budget.backoff(attempt, target.retries, exc)
                if backoff is None:
                    raise  # this target is done: the next one, at once, if the call may move on
                self._reset_attempt_state()
            finally:
                span.end()  # however the attempt ended, cancelled by a departing client too
            await asyncio.sleep(backoff)

    async def _replayed(self, events: list[tuple[float, ChatEvent]]) -> AsyncIterator[OutputEvent]:
        """A cached answer's events, at once or at the pace they first came."""
        started = time.monotonic()
        for at, event in events:
            if self._cache is not None and self._cache.paced:
                await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            if self._absorb(event):
                self._emitted = True
                yield event  # type: ignore[misc]

    async def _attempt(self, adapter: ProviderAdapter, target: ChatRequest) -> AsyncIterator[OutputEvent]:
        """One upstream call's output. Whatever it raises becomes a `GatewayError`: a stream
        that ends without a finish is `upstream_incomplete`; an exception the adapter did not
        expect is typed by `unexpected_failure`. Client input is checked at the edge, so what
        reaches here is not the client's."""
        heard = False
        self._recorded.clear()
        self._attempt_started = time.monotonic()
        watch = UpstreamWatch(self._first_event_deadline())
        try:
            async with aclosing(adapter.stream(target)) as upstream:
                while (event := await self._next_event(watch, upstream)) is not None:
                    heard = True
                    if self._absorb(event):
                        if not self._emitted:
                            self._emitted = True
                            if watch.deadline != self._budget.deadline:
                                watch.arm(self._budget.deadline)  # the first token came in time
                        yield event  # type: ignore[misc]
        except GatewayError:
            raise
        except Exception as exc:
            raise unexpected_failure(exc, self.id, target, heard=heard) from exc
        finally:
            watch.disarm()
        if self._finish_reason is None:
            raise UpstreamError("the upstream's stream ended before it said the answer was finished",
                                status_code=502, retryable=True, error_type="upstream_incomplete")  # fmt: skip

    def _first_event_deadline(self) -> float:
        """The request's deadline, or the first token's when it is set and sooner."""
        if self._first_token_deadline is not None and not self._emitted:
            return min(self._budget.deadline, self._first_token_deadline)
        return self._budget.deadline

    async def _next_event(self, watch: UpstreamWatch, upstream: AsyncIterator[ChatEvent]) -> ChatEvent | None:
        try:
            return await watch.next(upstream)
        except TimeoutError:
            if watch.deadline == self._budget.deadline:
                raise UpstreamTimeoutError("the upstream did not finish within the request timeout", retryable=False) from None
            raise UpstreamTimeoutError("the upstream sent no output within the first-token timeout") from None

    def _absorb(self, event: ChatEvent) -> bool:
        """Fold one event into the call's state; True when it is output to pass on."""
        self._collector.observe(event)
        if self._cache is not None and self._cache.keeps:
            self._recorded.append((time.monotonic() - self._attempt_started, event))
        if isinstance(event, TextDelta):
            self._text.append(event.text)
            return True
        if isinstance(event, ToolCallDelta):
            self._merge_tool_call(event)
            return True
        if isinstance(event, ReasoningDelta):
            self._reasoning.append(event.text)
            self._reasoning_signature = event.signature or self._reasoning_signature
            return True
        if isinstance(event, Usage):
            self._usage = event
        elif isinstance(event, Finish):
            self._finish_reason = event.reason
        elif isinstance(event, ResponseInfo):
            self._info = event
        return False

    def _merge_tool_call(self, delta: ToolCallDelta) -> None:
        call = self._tool_calls.get(delta.index)
        if call is None:
            # Some vendors (Gemini) give no call id: make one, as OpenAI's clients expect one,
            # and put it on the event too, so a streamed fragment carries the same id.
            delta.id = delta.id or f"call_{uuid.uuid4().hex[:24]}"
            call = self._tool_calls[delta.index] = {
                "id": delta.id,
                "type": "function",
                "function": {"name": delta.name or "", "arguments": ""},
            }
        elif delta.name and not call["function"]["name"]:
            call["function"]["name"] = delta.name
        call["function"]["arguments"] += delta.arguments

    def _reset_attempt_state(self) -> None:
        self._usage, self._finish_reason, self._info = None, None, ResponseInfo()

    @property
    def finished(self) -> bool:
        return self._result is not None

    @property
    def result(self) -> CallResult:
        """The finished call's result (only once `finished`)."""
        assert self._result is not None, "the call has not finished"
        return self._result

    async def complete(self) -> CallResult:
        """Run the call to its end (the non-streaming path); failures are recorded, then raised."""
        try:
            async for _ in self.output():
                pass
        except GatewayError:
            await self.finish()
            raise
        return await self.finish()

    async def finish(self) -> CallResult:
        """The assembled result; computed once, and handed to `on_finish` (the request log)."""
        if self._result is None:
            tokens = await self._token_counts()
            timings = self._collector.finish()
            spec = self.request.provider.model(self.model) or self.request.model_spec
            cost = cost_usd(spec, tokens)
            saved = None
            if self._cache is not None:
                if self._cache.answer is not None:  # a hit costs nothing: what it would have cost is saved
                    cost, saved = 0.0, self._cache.answer.cost_usd
                elif self._status == "success" and self._finish_reason is not None and self._cache.keeps:
                    self._cache.keep(CachedAnswer(list(self._recorded), cost))
            tool_calls = [self._tool_calls[i] for i in sorted(self._tool_calls)] or None
            finish_reason = self._finish_reason
            if tool_calls and finish_reason in (None, "stop"):
                finish_reason = "tool_calls"
            self._result = CallResult(
                id=self.id,
                request=self.request,
                timestamp=self.timestamp,
                status=self._status,
                text="".join(self._text),
                tool_calls=tool_calls,
                finish_reason=finish_reason,
                model=self.model,
                response_id=self._info.response_id,
                system_fingerprint=self._info.system_fingerprint,
                service_tier=self._info.service_tier,
                tokens=tokens,
                metrics=build_metrics(timings, tokens, cost, self.cache_status, saved),
                attempts=self._budget.attempts,
                error=self._error,
                reasoning="".join(self._reasoning),
                reasoning_signature=self._reasoning_signature,
            )
            self._end_span(self._result)
            if self._on_finish is not None:
                await self._on_finish(self._result)
        return self._result

    def _end_span(self, result: CallResult) -> None:
        m = result.metrics
        attributes = {
            "gen_ai.system": result.request.provider.id,
            "gen_ai.response.model": result.model,
            "gen_ai.usage.input_tokens": m["input_tokens"],
            "gen_ai.usage.output_tokens": m["output_tokens"],
            "llmgateway.status": result.status,
            "llmgateway.latency_s": m["latency_s"],
        }
        if result.finish_reason:
            attributes["gen_ai.response.finish_reasons"] = [result.finish_reason]
        if result.response_id:
            attributes["gen_ai.response.id"] = result.response_id
        if m["time_to_first_token_s"] is not None:
            attributes["llmgateway.time_to_first_token_s"] = m["time_to_first_token_s"]
        if m["cost_usd"] is not None:
            attributes["llmgateway.cost_usd"] = m["cost_usd"]
        self._span.set_attributes(attributes)
        if result.error is not None:
            self._span.set_status(trace.Status(trace.StatusCode.ERROR, result.error.message))
            self._span.set_attribute("error.type", result.error.error_type)
        self._span.end()

    async def _token_counts(self) -> TokenCounts:
        """The vendor's counts; without them, an error before any output cost nothing, and
        anything else (a cancelled or broken stream) is estimated, and flagged so."""
        if self._usage is not None:
            return self._usage_counts()
        if self._status == "error" and not self._emitted:
            return TokenCounts(0, 0)
        return await asyncio.to_thread(self._estimate_counts)

    def _usage_counts(self) -> TokenCounts:
        u = self._usage
        assert u is not None
        return TokenCounts(u.input_tokens, u.output_tokens, u.cached_tokens, u.reasoning_tokens, u.cache_write_tokens)

    def _estimate_counts(self) -> TokenCounts:
        """Counts from the shipped tokenizer, for a vendor that reported none."""
        encoding = self.request.provider.tokenizer_for(self.request.model)
        output = "".join(self._reasoning) + "".join(self._text) + "".join(
            c["function"]["name"] + c["function"]["arguments"] for c in self._tool_calls.values()
        )
        return TokenCounts(
            input_tokens=count_message_tokens(self.request.messages, encoding),
            output_tokens=count_text_tokens(output, encoding) if output else 0,
            estimated=True,
        )
