"""The `metrics` object of a response: timings, tokens and cost of one call, in one place."""

from __future__ import annotations

from typing import Any

from llmgateway.metrics.collector import Timings
from llmgateway.vocabulary.results import TokenCounts


def visible_output_tokens(tokens: TokenCounts) -> int:
    """Output tokens the client sees: reasoning ("thinking") tokens are generated before the
    first visible token and never sent, so they belong to the time to first token."""
    return max(tokens.output_tokens - tokens.reasoning_tokens, 0)


def tokens_per_second(timings: Timings, visible_tokens: int) -> float:
    """Generation speed: visible output tokens over the time spent generating them.

    The generation window is latency - time to first token. An answer that arrived in a
    single output event has no such window (its tokens came at once), so its speed is taken
    over the whole latency instead of dividing by a near-zero gap.
    """
    if visible_tokens <= 0:
        return 0.0
    ttft = timings.time_to_first_token_s
    window = timings.latency_s - ttft if ttft is not None else 0.0
    if timings.output_events >= 2 and window > 0:
        return visible_tokens / window
    return visible_tokens / timings.latency_s if timings.latency_s > 0 else 0.0


def inter_token_latency(timings: Timings, visible_tokens: int) -> float:
    """The mean gap between visible tokens: first to last output over (tokens - 1); 0.0 when
    the answer came in one event or holds one token."""
    if timings.output_events < 2 or visible_tokens < 2:
        return 0.0
    return timings.generation_s / (visible_tokens - 1)


def build_metrics(
    timings: Timings, tokens: TokenCounts, cost: float | None, cache: str | None = None, cost_saved: float | None = None
) -> dict[str, Any]:
    """The metrics of a call; `cache` and `cost_saved_usd` only where the gateway caches answers
    (a hit's tokens are the original answer's, its cost 0, what it would have cost saved)."""
    metrics = {
        "input_tokens": tokens.input_tokens,
        "output_tokens": tokens.output_tokens,
        "total_tokens": tokens.total_tokens,
        "cached_tokens": tokens.cached_tokens,
        "reasoning_tokens": tokens.reasoning_tokens,
        "cache_write_tokens": tokens.cache_write_tokens,
        "cost_usd": cost,
        "latency_s": timings.latency_s,
        "time_to_first_token_s": timings.time_to_first_token_s,
        "inter_token_latency_s": inter_token_latency(timings, visible_output_tokens(tokens)),
        "tokens_per_second": tokens_per_second(timings, visible_output_tokens(tokens)),
        "tokens_estimated": tokens.estimated,
        "price_known": cost is not None,
    }
    if cache is not None:
        metrics["cache"] = cache
        metrics["cost_saved_usd"] = cost_saved or 0.0
    return metrics


def openai_usage(tokens: TokenCounts) -> dict[str, Any]:
    """The same counts in OpenAI's `usage` shape."""
    return {
        "prompt_tokens": tokens.input_tokens,
        "completion_tokens": tokens.output_tokens,
        "total_tokens": tokens.total_tokens,
        "prompt_tokens_details": {"cached_tokens": tokens.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": tokens.reasoning_tokens},
    }
