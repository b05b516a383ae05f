"""The gateway's request log and sessions, behind the `Recorder` the core calls.

Nothing here touches the database on the request path: records are queued for the writer,
and session conversations are served from memory, in a cache bounded in bytes
(`LLMGATEWAY_SESSION_CACHE_BYTES`). Only the first request of a session this process has not
seen (or has evicted) reads its conversation from the database (one indexed query).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Callable

import orjson

from llmgateway.errors import GatewayError
from llmgateway.settings import Settings
from llmgateway.tracking.journal import Journal
from llmgateway.tracking.records import record_from_result, record_of_embedding, record_of_refusal
from llmgateway.tracking.spill import DeadLetterFile, SpillFile
from llmgateway.tracking.store import RequestStore, assistant_message
from llmgateway.tracking.writer import TrackingWriter, WriterStats
from llmgateway.vocabulary.results import CallResult, EmbeddingOutcome

logger = logging.getLogger("llmgateway.tracking")


class Tracker:
    def __init__(self, settings: Settings) -> None:
        self._shutdown_grace_s = settings.shutdown_grace_s
        self.store: RequestStore | None = None
        self.writer: TrackingWriter | None = None
        if settings.tracking_enabled:
            self.store = RequestStore(settings.database_url)
            journal_dir = settings.tracking_journal_dir
            self.writer = TrackingWriter(
                self.store,
                SpillFile(settings.tracking_spill_path),
                DeadLetterFile(settings.tracking_dead_letter_path),
                Journal(journal_dir) if journal_dir is not None else None,
                queue_size=settings.tracking_queue_size,
                batch_size=settings.tracking_batch_size,
                flush_interval_s=settings.tracking_flush_interval_s,
                buffer_records=settings.tracking_buffer_records,
            )
        self._sessions: OrderedDict[str, tuple[list[dict[str, Any]], int]] = OrderedDict()
        self._session_bytes = 0
        self._session_cache_bytes = settings.session_cache_bytes

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
        cached = self._sessions.get(session_id)
        if cached is not None:
            self._sessions.move_to_end(session_id)
            return list(cached[0])
        messages = (await self.store.last_conversation(session_id) or []) if self.store is not None else []
        self._remember(session_id, messages)
        return list(messages)

    def _remember(self, session_id: str, messages: list[dict[str, Any]]) -> None:
        """Cache a session's conversation; the least recently used go past the byte bound."""
        self._forget(session_id)
        size = _size_of(messages)
        if size > self._session_cache_bytes:
            return  # larger than the whole cache: read from the database each time
        self._sessions[session_id] = (messages, size)
        self._session_bytes += size
        while self._session_bytes > self._session_cache_bytes:
            self._forget(next(iter(self._sessions)))

    def _forget(self, session_id: str) -> None:
        entry = self._sessions.pop(session_id, None)
        if entry is not None:
            self._session_bytes -= entry[1]

    @property
    def session_cache_bytes(self) -> int:
        return self._session_bytes

    # -- reading --------------------------------------------------------------------------
    def gauges(self) -> dict[str, Callable[[], float]]:
        """The writer's counts (queue_depth, spilled, dead_lettered, buffered, dropped) as
        functions, for gauges read at scrape time."""
        writer = self.writer
        names = ("queue_depth", "spilled", "dead_lettered", "buffered", "dropped")
        return {name: (lambda name=name: float(getattr(writer.stats(), name)) if writer else 0.0) for name in names}

    def stats(self) -> WriterStats | None:
        return self.writer.stats() if self.writer is not None else None

    async def flush(self) -> None:
        """Wait for queued records to be written, so a read after a call sees it."""
        if self.writer is not None:
            await self.writer.flush()


def _size_of(messages: list[dict[str, Any]]) -> int:
    """The bytes a conversation holds, as JSON (what the cache bound counts)."""
    try:
        return len(orjson.dumps(messages))
    except (TypeError, orjson.JSONEncodeError):
        return len(repr(messages))
