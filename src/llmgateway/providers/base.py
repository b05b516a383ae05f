"""The adapter protocol and the events every adapter yields.

An adapter turns a `ChatRequest` into a vendor SDK call and the vendor's stream into
`ChatEvent`s. It knows no route, clock, price or database; it raises only `GatewayError`s.
The events are in llmgateway.vocabulary.events.
"""

from __future__ import annotations

from typing import AsyncIterable, AsyncIterator, Iterable, Protocol, TypeVar

from pydantic import ValidationError

from llmgateway.errors import BadRequestError, upstream_protocol_error
from llmgateway.vocabulary.events import (
    ChatEvent,
    EmbeddingResult,
    Finish,
    ReasoningDelta,
    ResponseInfo,
    TextDelta,
    ToolCallDelta,
    Usage,
)
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

    async def warm_up(self) -> None:
        """Pay now, once the adapter is built in the gateway's warm-up, what its first call
        would otherwise pay once (the SDK's platform probe, say), so that the first request
        after start costs what the later ones do."""
        ...

    async def aclose(self) -> None:
        """Close pooled clients."""
        ...


T = TypeVar("T")
_OPTIONAL_TEXT = (str, type(None))
# Each event's fields and the types they must have: what a translator built from a vendor's
# odd value (a list where text belongs) is caught here, not where the text is joined.
_EVENT_FIELDS: dict[type, tuple[tuple[str, type | tuple[type, ...]], ...]] = {
    TextDelta: (("text", str),),
    ReasoningDelta: (("text", str), ("signature", _OPTIONAL_TEXT)),
    ToolCallDelta: (("index", int), ("id", _OPTIONAL_TEXT), ("name", _OPTIONAL_TEXT), ("arguments", str)),
    Usage: tuple((name, int) for name in ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens",
                                          "cache_write_tokens")),
    Finish: (("reason", str),),
    ResponseInfo: tuple((name, _OPTIONAL_TEXT) for name in ("model", "response_id", "system_fingerprint", "service_tier")),
}  # fmt: skip


def checked(events: Iterable[ChatEvent]) -> list[ChatEvent]:
    """The events a translator made, each field of the type the gateway relies on; a field of
    another type raises TypeError, a count below zero ValueError (inside `translating`, a 502)."""
    result = list(events)
    for event in result:
        for name, kind in _EVENT_FIELDS[type(event)]:
            value = getattr(event, name)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise TypeError(f"{type(event).__name__}.{name} is {type(value).__name__}")
            if kind is int and value < 0:  # a token count below zero: a cost or a metric would run backwards
                raise ValueError(f"{type(event).__name__}.{name} is {value}")
    return result


class _Translating:
    """Around the translation of what a vendor sent: a shape the translator cannot read (a
    field missing, a value of another type than the API sends) is the vendor's answer being
    unreadable, a 502 `upstream_protocol_error`, not a failure of the gateway.

    A class rather than a generator-based context manager: it is entered for every event of
    every stream, and costs a seventh as much."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object) -> bool:
        if isinstance(exc, _UNREADABLE):
            raise upstream_protocol_error(exc) from exc
        return False


_UNREADABLE = (KeyError, IndexError, TypeError, AttributeError, ValueError, ValidationError)
_TRANSLATING = _Translating()


def translating() -> _Translating:
    """The context in which a vendor's answer is translated (see `_Translating`)."""
    return _TRANSLATING


async def parsed_by_the_sdk(items: AsyncIterable[T]) -> AsyncIterator[T]:
    """The items an SDK parses from a vendor's stream (google-genai, ollama, botocore): an
    exception the SDK raises on data it cannot read is the vendor's answer being unreadable,
    as in `translating`; the SDK's own errors (HTTP, connection) pass through."""
    iterator = aiter(items)
    while True:
        with translating():
            try:
                item = await anext(iterator)
            except StopAsyncIteration:
                return
        yield item


class EmbeddingsNotSupportedError(BadRequestError):
    error_type = "embeddings_not_supported"
