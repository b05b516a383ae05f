"""The background writer: records leave the request path through a bounded queue.

`submit` never waits and never fails a request. A background task takes records from the
queue in batches and inserts them. When the queue is full, or the database is down, records
go to the spill file instead, and are replayed once a write succeeds again. Shutdown drains
the queue; what the database cannot take then is spilled, so no record is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from llmgateway.tracking.spill import SpillFile
from llmgateway.tracking.store import RequestStore

logger = logging.getLogger("llmgateway.tracking")

_RETRY_AFTER_FAILURE_S = 2.0


@dataclass(frozen=True, slots=True)
class WriterStats:
    queue_depth: int
    written: int
    spilled: int
    spill_pending: int
    database_healthy: bool


class TrackingWriter:
    def __init__(
        self,
        store: RequestStore,
        spill: SpillFile,
        *,
        queue_size: int,
        batch_size: int,
        flush_interval_s: float,
    ) -> None:
        self._store = store
        self._spill = spill
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._task: asyncio.Task[None] | None = None
        self._written = 0
        self._spilled = 0
        self._healthy = True
        self._retry_at = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="llmgateway-tracking-writer")

    def submit(self, row: dict[str, Any]) -> None:
        """Queue a record; when the queue is full, spill it (rare: an overloaded database)."""
        try:
            self._queue.put_nowait(row)
        except asyncio.QueueFull:
            self._spill.append([row])
            self._spilled += 1

    def queue_depth(self) -> int:
        return self._queue.qsize()

    def spilled_total(self) -> int:
        return self._spilled

    def stats(self) -> WriterStats:
        return WriterStats(
            queue_depth=self._queue.qsize(),
            written=self._written,
            spilled=self._spilled,
            spill_pending=self._spill.pending_records(),
            database_healthy=self._healthy,
        )

    async def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until what is queued now has been written (or spilled)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._queue.join()
        except TimeoutError:
            logger.warning("tracking flush timed out with %d records queued", self._queue.qsize())

    async def close(self, timeout_s: float = 30.0) -> None:
        """Drain the queue into the database; spill whatever it cannot take in time."""
        await self.flush(timeout_s)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        leftover = self._take(self._queue.qsize())
        if leftover:
            self._spill.append(leftover)
            self._spilled += len(leftover)
            logger.warning("spilled %d records at shutdown to %s", len(leftover), self._spill.path)

    # -- the background task --------------------------------------------------------------
    async def _run(self) -> None:
        if self._spill.has_records():
            await self._replay()
        while True:
            batch: list[dict[str, Any]] = []
            try:
                batch.append(await self._queue.get())
                await self._fill(batch)
                await self._write(batch)
            except asyncio.CancelledError:
                if batch:  # shutdown caught a batch in hand: keep it
                    self._spill.append(batch)
                    self._spilled += len(batch)
                raise
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _fill(self, batch: list[dict[str, Any]]) -> None:
        """Let records gather for one flush interval, then take them all (up to a batch).

        Sleeping once per batch, rather than waking for every record, keeps the writer's
        share of the event loop flat under load.
        """
        if self._queue.qsize() < self._batch_size - len(batch):
            await asyncio.sleep(self._flush_interval_s)
        batch.extend(self._take(self._batch_size - len(batch)))

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        if not self._healthy and time.monotonic() < self._retry_at:
            await asyncio.to_thread(self._spill.append, batch)
            self._spilled += len(batch)
            return
        try:
            await self._store.insert_many(batch)
        except (SQLAlchemyError, OSError) as exc:
            if self._healthy:
                logger.error("request log database unavailable, spilling to %s: %s", self._spill.path, exc)
            self._healthy = False
            self._retry_at = time.monotonic() + _RETRY_AFTER_FAILURE_S
            await asyncio.to_thread(self._spill.append, batch)
            self._spilled += len(batch)
            return
        self._written += len(batch)
        if not self._healthy:
            logger.info("request log database is back; replaying spilled records")
            self._healthy = True
        if self._spill.has_records():
            await self._replay()

    async def _replay(self) -> None:
        path = self._spill.begin_replay()
        if path is None:
            return
        replayed = 0
        try:
            for rows in await asyncio.to_thread(lambda: list(SpillFile.read_batches(path, self._batch_size))):
                await self._store.insert_many(rows)
                replayed += len(rows)
        except (SQLAlchemyError, OSError) as exc:
            logger.error("replay of spilled records stopped (%d done, will resume): %s", replayed, exc)
            self._healthy = False
            self._retry_at = time.monotonic() + _RETRY_AFTER_FAILURE_S
            return
        self._spill.end_replay(path)
        self._written += replayed
        logger.info("replayed %d spilled records", replayed)

    def _take(self, n: int) -> list[dict[str, Any]]:
        rows = []
        for _ in range(n):
            try:
                rows.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return rows
