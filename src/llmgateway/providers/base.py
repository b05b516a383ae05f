"""The adapter protocol and the events every adapter yields.

An adapter turns a `ChatRequest` into a vendor SDK call and the vendor's stream into
`ChatEvent`s. It knows no route, clock, price or database; it raises only `GatewayError`s.
The events are in llmgateway.vocabulary.events.
"""

from __future__ import annotations

from typing import AsyncIterator, Protocol

from llmgateway.errors import BadRequestError
from llmgateway.vocabulary.events import ChatEvent, EmbeddingResult
from llmgateway.vocabulary.requests import ChatRequest, EmbeddingRequest


class ProviderAdapter(Protocol):
    """What the gateway needs of a provider."""

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """Call the vendor and yield its answer as events."""
        ...

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """Embed texts; providers without embeddings raise `EmbeddingsNotSupportedError`."""
        ...

    def credentials(self, request: ChatRequest | EmbeddingRequest) -> list[str]:
        """The credentials the adapter holds for the request beyond its key (service-account
        tokens, AWS secrets), so that the gateway can scrub them from error messages."""
        ...

    async def aclose(self) -> None:
        """Close pooled clients."""
        ...


class EmbeddingsNotSupportedError(BadRequestError):
    error_type = "embeddings_not_supported"
