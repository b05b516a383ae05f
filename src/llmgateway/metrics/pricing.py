"""The cost of one call, from the catalog's per-token prices.

input_tokens includes cached input and input written to a cache; cached (read) tokens are
billed at the cached price, cache writes at the cache-write price (where a vendor has one),
the rest at the input price. output_tokens already includes reasoning tokens (every vendor
bills thinking as output), so reasoning tokens are never added a second time.
A model without a price in the catalog costs None: unknown, not zero.
"""

from __future__ import annotations

from llmgateway.catalog import ModelSpec
from llmgateway.vocabulary.results import TokenCounts


def cost_usd(model: ModelSpec | None, tokens: TokenCounts) -> float | None:
    if model is None or not model.has_price:
        return None
    assert model.input_cost_per_token is not None and model.output_cost_per_token is not None
    cached = min(tokens.cached_tokens, tokens.input_tokens)
    written = min(tokens.cache_write_tokens, tokens.input_tokens - cached)
    cached_price = _or(model.cached_input_cost_per_token, model.input_cost_per_token)
    write_price = _or(model.cache_write_input_cost_per_token, model.input_cost_per_token)
    cost = (
        (tokens.input_tokens - cached - written) * model.input_cost_per_token
        + cached * cached_price
        + written * write_price
        + tokens.output_tokens * model.output_cost_per_token
    )
    return round(cost, 10)


def _or(price: float | None, fallback: float) -> float:
    return fallback if price is None else price
