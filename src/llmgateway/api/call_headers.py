"""The headers an answer carries about its call, beyond the metrics: what the cache did, and
what the virtual key's rate limits have left."""

from __future__ import annotations

from llmgateway.core.call import Call
from llmgateway.vocabulary.requests import ChatRequest


def call_headers(call: Call, request: ChatRequest) -> dict[str, str]:
    """`x-llmgateway-cache: hit|miss|bypass` and `x-llmgateway-cache-key` (a hash that reveals
    nothing, for `DELETE /api/admin/cache?key=`) when the request was cacheable; the
    `x-ratelimit-*` headers when its key has limits."""
    headers = dict(request.rate_limit_headers or {})
    if call.cache_status is not None:
        headers["x-llmgateway-cache"] = call.cache_status
        headers["x-llmgateway-cache-key"] = call.cache_key or ""
    return headers
