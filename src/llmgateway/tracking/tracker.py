"""The gateway's request log and sessions, behind the `Recorder` the core calls.

Records are queued for the writer: the request path never waits on the request log.
Sessions are the exception, because every process and instance must see the same turns: a
session's conversation is stored when a turn succeeds, before its answer is complete, and
read through the store before the next turn. Reads ask for the stored version (one indexed
query), and the messages come back only when this process's copy is not that version; the
copies are kept in a cache bounded in bytes (`LLMGATEWAY_SESSION_CACHE_BYTES`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Callable, NamedTuple

import orjson
from sqlalchemy.exc import SQLAlchemyError

from llmgateway.errors import GatewayError
from llmgateway.settings import Settings
from llmgateway.tracking.journal import Journal
from llmgateway.tracking.keys import KeyStore
from llmgateway.tracking.records import record_from_result, record_of_embedding, record_of_refusal
from llmgateway.tracking.spill import DeadLetterFile, SpillFile
from llmgateway.tracking.store import RequestStore
from llmgateway.tracking.writer import TrackingWriter, WriterStats
from llmgateway.vocabulary.results import CallResult, EmbeddingOutcome

logger = logging.getLogger("llmgateway.tracking")


class _CachedConversation(NamedTuple):
    version: int  # the store's version of it (0 without a store)
    messages: list[dict[str, Any]]
    size: int  # bytes, as the cache bound counts them


class Tracker:
    def __init__(self, settings: Settings) -> None:
        self._shutdown_grace_s = settings.shutdown_grace_s
        self.store: RequestStore | None = None
        self.keys: KeyStore | None = None  # teams and virtual keys, in the same database
        self.writer: TrackingWriter | None = None
        if settings.tracking_enabled:
            self.store = RequestStore(settings.database_url)
            self.keys = KeyStore(self.store)
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
        self._sessions: OrderedDict[str, _CachedConversation] = OrderedDict()
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
        if self.writer is not None:
            self.writer.submit(record_from_result(result))

    def record_embedding(self, outcome: EmbeddingOutcome) -> None:
        if self.writer is not None:
            self.writer.submit(record_of_embedding(outcome))

    def record_refusal(self, error: GatewayError, **details: Any) -> None:
        if self.writer is not None:
            self.writer.submit(record_of_refusal(error, **details))

    async def save_turn(self, result: CallResult) -> None:
        session_id = result.request.session_id
        if not session_id or result.status != "success":
            return
        messages = [*result.request.messages, _assistant_message(result.text, result.tool_calls)]
        version = 0
        if self.store is not None:
            try:
                version = await self.store.save_conversation(session_id, messages)
            except (SQLAlchemyError, OSError) as exc:
                logger.warning("session %s: its turn could not be stored (%s); the next turn starts without it",
                               session_id, type(exc).__name__)  # fmt: skip
                self._forget(session_id)
                return
        self._remember(session_id, version, messages)

    async def conversation(self, session_id: str) -> list[dict[str, Any]]:
        cached = self._sessions.get(session_id)
        if self.store is None:
            return list(cached.messages) if cached is not None else []
        stored = await self.store.conversation(session_id, cached.version if cached is not None else None)
        if stored is None:
            self._forget(session_id)
            return []
        version, messages = stored
        if messages is None and cached is not None:  # ours is the stored version
            self._sessions.move_to_end(session_id)
            return list(cached.messages)
        self._remember(session_id, version, messages or [])
        return list(messages or [])

    def _remember(self, session_id: str, version: int, messages: list[dict[str, Any]]) -> None:
        """Cache a session's conversation; the least recently used go past the byte bound."""
        self._forget(session_id)
        size = _size_of(messages)
        if size > self._session_cache_bytes:
            return  # larger than the whole cache: read from the store each time
        self._sessions[session_id] = _CachedConversation(version, messages, size)
        self._session_bytes += size
        while self._session_bytes > self._session_cache_bytes:
            self._forget(next(iter(self._sessions)))

    def _forget(self, session_id: str) -> None:
        entry = self._sessions.pop(session_id, None)
        if entry is not None:
            self._session_bytes -= entry.size

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


def _assistant_message(text: str | None, tool_calls: list[dict] | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text or ""}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def _size_of(messages: list[dict[str, Any]]) -> int:
    """The bytes a conversation holds, as JSON (what the cache bound counts)."""
    try:
        return len(orjson.dumps(messages))
    except (TypeError, orjson.JSONEncodeError):
        return len(repr(messages))
