"""The gateway's request log and sessions, behind the `Recorder` the core calls.

Nothing here touches the database on the request path: records are queued for the writer,
and session conversations are served from memory. Only the first request of a session this
process has not seen reads its conversation from the database (one indexed query).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Callable

from llmgateway.core.call import CallResult
from llmgateway.core.embeddings import EmbeddingOutcome
from llmgateway.core.errors import GatewayError
from llmgateway.settings import Settings
from llmgateway.tracking.records import record_from_result, record_of_embedding, record_of_refusal
from llmgateway.tracking.spill import SpillFile
from llmgateway.tracking.store import RequestStore, assistant_message
from llmgateway.tracking.writer import TrackingWriter, WriterStats

logger = logging.getLogger("llmgateway.tracking")

_MAX_SESSIONS_IN_MEMORY = 10_000


class Tracker:
    def __init__(self, settings: Settings) -> None:
        self._shutdown_grace_s = settings.shutdown_grace_s
        self.store: RequestStore | None = None
        self.writer: TrackingWriter | None = None
        if settings.tracking_enabled:
            self.store = RequestStore(settings.database_url)
            self.writer = TrackingWriter(
                self.store,
                SpillFile(settings.tracking_spill_path),
                queue_size=settings.tracking_queue_size,
                batch_size=settings.tracking_batch_size,
                flush_interval_s=settings.tracking_flush_interval_s,
            )
        self._sessions: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()

    async def start(self) -> None:
        """Migrate the schema (a failure stops the start), then start the writer."""
        if self.store is not None and self.writer is not None:
            await self.store.migrate()
            self.writer.start()

    async def close(self) -> None:
        if self.writer is not None:
            await self.writer.close(self._shutdown_grace_s)
        if self.store is not None:
            await self.store.aclose()

    # -- Recorder -------------------------------------------------------------------------
    def record(self, result: CallResult) -> None:
        session_id = result.request.session_id
        if session_id and result.status == "success":
            self._remember(session_id, [*result.request.messages, assistant_message(result.text, result.tool_calls)])
        if self.writer is not None:
            self.writer.submit(record_from_result(result))

    def record_embedding(self, outcome: EmbeddingOutcome) -> None:
        if self.writer is not None:
            self.writer.submit(record_of_embedding(outcome))

    def record_refusal(self, error: GatewayError, **details: Any) -> None:
        if self.writer is not None:
            self.writer.submit(record_of_refusal(error, **details))

    async def conversation(self, session_id: str) -> list[dict[str, Any]]:
        messages = self._sessions.get(session_id)
        if messages is None and self.store is not None:
            messages = await self.store.last_conversation(session_id) or []
            self._remember(session_id, messages)
        return list(messages or [])

    def _remember(self, session_id: str, messages: list[dict[str, Any]]) -> None:
        self._sessions[session_id] = messages
        self._sessions.move_to_end(session_id)
        if len(self._sessions) > _MAX_SESSIONS_IN_MEMORY:
            self._sessions.popitem(last=False)

    # -- reading --------------------------------------------------------------------------
    def gauges(self) -> tuple[Callable[[], float], Callable[[], float]]:
        """(queue depth, records spilled) as functions, for gauges read at scrape time."""
        writer = self.writer
        if writer is None:
            return (lambda: 0.0), (lambda: 0.0)
        return (lambda: float(writer.queue_depth())), (lambda: float(writer.spilled_total()))

    def stats(self) -> WriterStats | None:
        return self.writer.stats() if self.writer is not None else None

    async def flush(self) -> None:
        """Wait for queued records to be written, so a read after a call sees it."""
        if self.writer is not None:
            await self.writer.flush()
