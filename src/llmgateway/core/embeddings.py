"""The outcome of an embedding call: vectors, token counts and cost, measured like a chat call."""

from __future__ import annotations

import time

from llmgateway.metrics.pricing import cost_usd
from llmgateway.metrics.tokens import count_text_tokens
from llmgateway.vocabulary.events import EmbeddingResult
from llmgateway.vocabulary.requests import EmbeddingRequest
from llmgateway.vocabulary.results import EmbeddingOutcome, TokenCounts


def embedding_outcome(request: EmbeddingRequest, result: EmbeddingResult, latency_s: float) -> EmbeddingOutcome:
    """Counts from the vendor, else from the shipped tokenizer (flagged); cost from the catalog."""
    if result.input_tokens is not None:
        tokens = TokenCounts(result.input_tokens, 0)
    else:
        encoding = request.provider.tokenizer_for(request.model)
        tokens = TokenCounts(sum(count_text_tokens(text, encoding) for text in request.inputs), 0, estimated=True)
    model = result.model or request.model
    cost = cost_usd(request.provider.model(model) or request.provider.model(request.model), tokens)
    metrics = {
        "input_tokens": tokens.input_tokens,
        "total_tokens": tokens.input_tokens,
        "cost_usd": cost,
        "latency_s": latency_s,
        "tokens_estimated": tokens.estimated,
        "price_known": cost is not None,
    }
    return EmbeddingOutcome(request, result.vectors, model, tokens, metrics, timestamp=time.time() - latency_s)
