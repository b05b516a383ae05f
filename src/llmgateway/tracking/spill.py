"""Append-only JSON-lines files of records: the spill file and the dead-letter file.

The spill file holds records the database could not take yet (the queue was full, or the
database was down); they are replayed once it is back. Replay first renames the file, so
records spilled meanwhile land in a fresh file and none is lost or read twice; a replay cut
short is resumed later (ids already stored are skipped by the insert).

The dead-letter file holds records the database refused on their own, each with the error:
kept for an operator, never retried, so one bad record never blocks the others.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import orjson


def read_batches(path: Path, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    """The records of a JSON-lines file, a batch at a time (memory bounded by the batch)."""
    batch: list[dict[str, Any]] = []
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                record = _parsed(line)
                if record is not None:
                    batch.append(record)
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def _parsed(line: bytes) -> dict[str, Any] | None:
    """A record line; the stdlib parser takes what orjson refuses (lone surrogates, integers
    past 64 bits, deep nesting, from files written before records were made storable).
    None for a line torn by a crash mid-write."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    try:
        record = json.loads(line.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


class SpillFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.replaying_path = self.path.with_name(self.path.name + ".replaying")
        self._lock = threading.Lock()
        self._pending = 0  # records spilled and not yet replayed, counted without reading files

    def count_pending(self) -> None:
        """Count what earlier runs left (once, at start, off the event loop)."""
        self._pending = sum(_count_lines(p) for p in (self.path, self.replaying_path))

    def append(self, rows: list[dict[str, Any]]) -> None:
        data = b"".join(orjson.dumps(row) + b"\n" for row in rows)
        with self._lock, open(self.path, "ab") as f:
            f.write(data)
            f.flush()
            self._pending += len(rows)

    def has_records(self) -> bool:
        return _nonempty(self.path) or _nonempty(self.replaying_path)

    def begin_replay(self) -> Path | None:
        """The file to replay: one left by an earlier replay, else the current spill, renamed."""
        with self._lock:
            if _nonempty(self.replaying_path):
                return self.replaying_path
            if not _nonempty(self.path):
                return None
            self.path.replace(self.replaying_path)
            return self.replaying_path

    def end_replay(self, path: Path, replayed: int) -> None:
        path.unlink(missing_ok=True)
        with self._lock:
            self._pending = max(0, self._pending - replayed)

    def pending_records(self) -> int:
        return self._pending


class DeadLetterFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, row: dict[str, Any], error: BaseException) -> None:
        entry = {"dead_lettered_at": time.time(), "error": f"{type(error).__name__}: {error}"[:2000], "record": row}
        line = orjson.dumps(entry, default=str) + b"\n"
        with self._lock, open(self.path, "ab") as f:
            f.write(line)


def _nonempty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _count_lines(path: Path) -> int:
    """Records a file holds; an unreadable one holds none we can count (the start goes on, and
    appending to it will say what is wrong)."""
    try:
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return 0
