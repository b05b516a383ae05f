"""The cost of one call, from the catalog's per-token prices.

input_tokens includes cached input; cached tokens are billed at the cached price and the
rest at the input price. output_tokens already includes reasoning tokens (every vendor
bills thinking as output), so reasoning tokens are never added a second time.
A model without a price in the catalog costs None: unknown, not zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmgateway.catalog import ModelSpec


@dataclass(frozen=True, slots=True)
class TokenCounts:
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def cost_usd(model: ModelSpec | None, tokens: TokenCounts) -> float | None:
    if model is None or not model.has_price:
        return None
    assert model.input_cost_per_token is not None and model.output_cost_per_token is not None
    cached = min(tokens.cached_tokens, tokens.input_tokens)
    cached_price = (
        model.cached_input_cost_per_token if model.cached_input_cost_per_token is not None else model.input_cost_per_token
    )
    cost = (
        (tokens.input_tokens - cached) * model.input_cost_per_token
        + cached * cached_price
        + tokens.output_tokens * model.output_cost_per_token
    )
    return round(cost, 10)
