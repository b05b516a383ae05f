"""What the gateway needs of the request log (tracking/ provides it)."""

from __future__ import annotations

from typing import Any, Protocol

from llmgateway.catalog import ProviderSpec
from llmgateway.errors import GatewayError
from llmgateway.vocabulary.results import CallResult, EmbeddingOutcome


class Recorder(Protocol):
    def record(self, result: CallResult) -> None:
        """Take a finished call; must not block or fail."""
        ...

    def record_embedding(self, outcome: EmbeddingOutcome) -> None:
        """Take a finished embedding call."""
        ...

    def record_refusal(self, error: GatewayError, **details: Any) -> None:
        """Take a request refused before any upstream call."""
        ...

    async def save_turn(self, result: CallResult) -> None:
        """Keep a successful turn of a session, where the session's next turn (in any process)
        will read it; awaited before the answer is complete. Must not fail."""
        ...

    async def conversation(self, session_id: str) -> list[dict[str, Any]]:
        """The messages of a session so far (empty for a new session)."""
        ...


class CallObserver(Protocol):
    """Watches every request the request log records (the Prometheus metrics do): chat calls
    start and finish, embeddings finish, refusals happen. Must not block or fail."""

    def started(self) -> None: ...

    def finished(self, result: CallResult) -> None: ...

    def embedded(self, outcome: EmbeddingOutcome) -> None: ...

    def refused(self, provider: ProviderSpec | None, model: str) -> None:
        """A request refused before any upstream call (unknown provider, bad input, no key)."""
        ...
