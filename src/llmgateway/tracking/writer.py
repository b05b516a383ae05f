"""The background writer: records leave the request path through a bounded queue.

`submit` never waits and never fails a request: it makes the record storable, appends it to
the journal (see journal.py) and queues it. A background task takes records from the queue
in batches and inserts them; it cannot die of a record:

- a batch the database refuses is retried row by row, and a row refused on its own goes to
  the dead-letter file with its error (counted), while the others are stored;
- while the database is unavailable (a connection, lock or disk error), records go to the
  spill file and are replayed, in bounded batches, once a write succeeds again;
- when the disk takes nothing either, records wait in a bounded memory buffer (`/health`
  says degraded) and are written when space returns; a record dropped for want of both
  memory and disk is counted and logged, never silent;
- an unexpected failure keeps its batch for the next round, and a task that ends anyway is
  started again.

Shutdown drains the queue; what the database cannot take then is spilled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from llmgateway.tracking.journal import Journal
from llmgateway.tracking.spill import DeadLetterFile, SpillFile, read_batches
from llmgateway.tracking.storable import storable
from llmgateway.tracking.store import RequestStore

logger = logging.getLogger("llmgateway.tracking")

_RETRY_AFTER_FAILURE_S = 2.0

Entry = tuple[int, dict[str, Any]]  # (journal sequence number, record)


@dataclass(frozen=True, slots=True)
class WriterStats:
    queue_depth: int
    written: int
    spilled: int
    spill_pending: int
    dead_lettered: int
    buffered: int
    dropped: int
    restarts: int
    database_healthy: bool

    @property
    def degraded(self) -> bool:
        """Records are waiting in memory, or were lost, or the database is not taking writes."""
        return self.buffered > 0 or self.dropped > 0 or not self.database_healthy


def database_unavailable(exc: BaseException) -> bool:
    """Whether a failed write says the database cannot take writes now (rather than: this
    row); other failures are blamed on the rows only while the database answers a ping."""
    if isinstance(exc, (OSError, ConnectionError, asyncio.TimeoutError, DisconnectionError, PoolTimeoutError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (OperationalError, InterfaceError))


class TrackingWriter:
    def __init__(
        self,
        store: RequestStore,
        spill: SpillFile,
        dead_letters: DeadLetterFile,
        journal: Journal | None,
        *,
        queue_size: int,
        batch_size: int,
        flush_interval_s: float,
        buffer_records: int,
    ) -> None:
        self._store = store
        self._spill = spill
        self._dead_letters = dead_letters
        self._journal = journal
        self._queue: asyncio.Queue[Entry] = asyncio.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._buffer: deque[Entry] = deque()
        self._buffer_records = buffer_records
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._recovered = False
        self._written = self._spilled = self._dead_lettered = self._dropped = self._restarts = 0
        self._healthy = True
        self._retry_at = 0.0
        self._journal_failing = False
        self._queued = self._handled = 0  # records put in the queue, and taken out and handled, in order
        self._flush_waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="llmgateway-tracking-writer")
        self._task.add_done_callback(self._restart_if_ended)

    def _restart_if_ended(self, task: asyncio.Task[None]) -> None:
        if self._closing or task.cancelled():
            return
        logger.error("the request log's writer stopped (%r); starting it again", task.exception())
        self._restarts += 1
        self.start()

    def submit(self, row: dict[str, Any]) -> None:
        """Journal and queue a record; when the queue is full, spill it (an overloaded database)."""
        row, line = storable(row)
        entry = (self._append_to_journal(line), row)
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            self._offload([entry])
            return
        self._queued += 1

    def _append_to_journal(self, line: bytes) -> int:
        if self._journal is None:
            return 0
        try:
            seq = self._journal.append(line)
        except OSError as exc:  # a full disk: the record still goes on through the queue
            if not self._journal_failing:
                logger.error("the request log's journal cannot be written: %s", exc)
            self._journal_failing = True
            return 0
        self._journal_failing = False
        return seq

    def queue_depth(self) -> int:
        return self._queue.qsize()

    def stats(self) -> WriterStats:
        return WriterStats(
            queue_depth=self._queue.qsize(),
            written=self._written,
            spilled=self._spilled,
            spill_pending=self._spill.pending_records(),
            dead_lettered=self._dead_lettered,
            buffered=len(self._buffer),
            dropped=self._dropped,
            restarts=self._restarts,
            database_healthy=self._healthy,
        )

    async def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until the records queued before this call have been handled (stored, spilled
        or buffered); records queued after it are not waited for, so under steady traffic a
        read waits at most for the batches ahead of it, never for the queue to run dry.
        False when `timeout_s` passed first."""
        target = self._queued
        if self._handled >= target:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._flush_waiters.append((target, waiter))
        try:
            async with asyncio.timeout(timeout_s):
                await waiter
        except TimeoutError:
            logger.warning("tracking flush timed out with %d records queued", self._queue.qsize())
            return False
        return True

    def _mark_handled(self, count: int) -> None:
        self._handled += count
        while self._flush_waiters and self._flush_waiters[0][0] <= self._handled:
            _, waiter = self._flush_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def close(self, timeout_s: float = 30.0) -> None:
        """Drain the queue into the database; spill whatever it cannot take in time."""
        await self.flush(timeout_s)
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        leftover = [*self._buffer, *self._take(self._queue.qsize())]
        self._buffer.clear()
        if leftover:
            self._offload(leftover)
            logger.warning("%d records not in the database at shutdown: spilled to %s", len(leftover), self._spill.path)
        if self._journal is not None:
            self._journal.close(fully_committed=not self._buffer and self._recovered)

    # -- the background task --------------------------------------------------------------
    async def _run(self) -> None:
        if not self._recovered:
            await asyncio.to_thread(self._spill.count_pending)
            await self._recover_journal()
            self._recovered = True
            if self._spill.has_records():
                await self._replay()
        while True:
            batch: list[Entry] = []
            try:
                await self._next_batch(batch)
                await self._handle(batch)  # with no new record: a retry of what waits
            except asyncio.CancelledError:
                self._buffer.extend(batch)  # shutdown caught a batch in hand: close() spills it
                raise
            except Exception:  # a bug, not a record: keep the batch for the next round
                logger.exception("the request log's writer failed on a batch; keeping it for the next round")
                self._keep(batch)
                await asyncio.sleep(_RETRY_AFTER_FAILURE_S)
            except BaseException:  # the task ends (and is started again): the batch stays
                self._keep(batch)
                raise
            finally:
                for _ in batch:
                    self._queue.task_done()
                self._mark_handled(len(batch))

    async def _next_batch(self, batch: list[Entry]) -> None:
        """Wait for a record (while records wait in memory or in the spill file, only until
        it is time to retry them), let more gather for one flush interval, then take them
        all (up to a batch).

        Sleeping once per batch, rather than waking for every record, keeps the writer's
        share of the event loop flat under load.
        """
        waiting = self._buffer or not self._healthy or self._spill.pending_records()
        try:
            async with asyncio.timeout(_RETRY_AFTER_FAILURE_S if waiting else None):
                batch.append(await self._queue.get())
        except TimeoutError:
            return
        if self._queue.qsize() < self._batch_size - len(batch):
            await asyncio.sleep(self._flush_interval_s)
        batch.extend(self._take(self._batch_size - len(batch)))

    async def _handle(self, batch: list[Entry]) -> None:
        entries = [*self._buffer, *batch]
        self._buffer.clear()
        if not entries and not self._healthy and await self._store.reachable():
            self._stored(0)  # idle, and the database answers again: replay what waits
        if not self._healthy and time.monotonic() < self._retry_at:
            if entries:
                await self._offload_off_loop(entries)
        else:
            unstored = await self._insert(entries)
            if unstored:
                await self._offload_off_loop(unstored)
            elif self._spill.has_records():
                await self._replay()
        if self._journal is not None and not self._buffer and batch:
            self._journal.commit(max(seq for seq, _ in batch))

    async def _insert(self, entries: list[Entry]) -> list[Entry]:
        """Store what the database takes; dead-letter rows it refuses on their own.

        Returns the entries not stored because the database is unavailable.
        """
        if not entries:
            return []
        try:
            await self._store.insert_many([row for _, row in entries])
        except Exception as exc:
            if await self._cannot_write(exc):
                self._unavailable(exc)
                return entries
        else:
            self._stored(len(entries))
            return []
        for i, (seq, row) in enumerate(entries):  # one row is refused: find it, store the rest
            try:
                await self._store.insert_many([row])
            except Exception as exc:
                if await self._cannot_write(exc):
                    self._unavailable(exc)
                    return entries[i:]
                await self._dead_letter(row, exc)
            else:
                self._stored(1)
        return []

    async def _cannot_write(self, exc: BaseException) -> bool:
        """Whether a failed write is the database's fault (down, locked, full), not the rows'."""
        return database_unavailable(exc) or not await self._store.reachable()

    def _stored(self, count: int) -> None:
        self._written += count
        if not self._healthy:
            logger.info("the request log's database takes writes again")
            self._healthy = True

    def _unavailable(self, exc: BaseException) -> None:
        if self._healthy:
            logger.error("the request log's database is unavailable, spilling to %s: %s", self._spill.path, exc)
        self._healthy = False
        self._retry_at = time.monotonic() + _RETRY_AFTER_FAILURE_S

    async def _dead_letter(self, row: dict[str, Any], exc: BaseException) -> None:
        logger.error("record %s refused by the database, kept in %s: %s", row.get("id"), self._dead_letters.path, exc)
        try:
            await asyncio.to_thread(self._dead_letters.append, row, exc)
        except OSError:
            self._keep([(0, row)])  # not even the dead-letter file: wait in memory
            return
        self._dead_lettered += 1

    def _offload(self, entries: list[Entry]) -> None:
        """To the spill file; when the disk takes nothing, into the memory buffer."""
        self._after_spill(entries, self._try_spill(entries))

    async def _offload_off_loop(self, entries: list[Entry]) -> None:
        """`_offload`, with the file written off the event loop."""
        self._after_spill(entries, await asyncio.to_thread(self._try_spill, entries))

    def _try_spill(self, entries: list[Entry]) -> OSError | None:
        try:
            self._spill.append([row for _, row in entries])
        except OSError as exc:
            return exc
        return None

    def _after_spill(self, entries: list[Entry], error: OSError | None) -> None:
        if error is None:
            self._spilled += len(entries)
            return
        logger.error("the spill file %s cannot be written (%s): %d records wait in memory",
                     self._spill.path, error, len(entries))  # fmt: skip
        self._keep(entries)

    def _keep(self, entries: list[Entry]) -> None:
        """Into the bounded memory buffer; past its bound the oldest records are dropped, counted."""
        self._buffer.extend(entries)
        overflow = len(self._buffer) - self._buffer_records
        if overflow > 0:
            for _ in range(overflow):
                self._buffer.popleft()
            self._dropped += overflow
            logger.error("%d records dropped: no database, no disk and the memory buffer is full", overflow)

    async def _replay(self) -> None:
        path = self._spill.begin_replay()
        if path is not None:
            await self._store_file(path, lambda replayed: self._spill.end_replay(path, replayed))

    async def _recover_journal(self) -> None:
        """Records of processes that ended without storing them all: stored now."""
        if self._journal is None:
            return
        for segment in await asyncio.to_thread(self._journal.orphans):
            await self._store_file(segment, lambda _replayed, s=segment: self._journal.discard(s), spill_rest=True)  # type: ignore[union-attr]
            logger.info("recovered the request log's journal segment %s", segment.name)

    async def _store_file(self, path: Path, done: Any, *, spill_rest: bool = False) -> None:
        """Store a file's records in bounded batches; `done(count)` once all are handled.

        While the database is unavailable the file stays, to be resumed later, unless
        `spill_rest`, which moves what is left to the spill file (so the file can go).
        """
        batches = read_batches(path, self._batch_size)
        handled = 0
        while (rows := await asyncio.to_thread(next, batches, None)) is not None:
            unstored = await self._insert([(0, storable(row)[0]) for row in rows])
            if unstored and not spill_rest:
                logger.error("replay of %s stopped after %d records; it resumes later", path.name, handled)
                return
            if unstored:
                await self._offload_off_loop(unstored)
            handled += len(rows)
        done(handled)

    def _take(self, n: int) -> list[Entry]:
        rows = []
        for _ in range(n):
            try:
                rows.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return rows
