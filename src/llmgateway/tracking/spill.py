"""An append-only JSON-lines file that holds records the database could not take yet.

Records go here when the queue is full or the database is down, and are replayed once it is
back. Replay first renames the file, so records spilled meanwhile land in a fresh file and
none is lost or read twice; a replay cut short is resumed at the next start (ids already
stored are skipped by the insert).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator

import orjson


class SpillFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.replaying_path = self.path.with_name(self.path.name + ".replaying")
        self._lock = threading.Lock()

    def append(self, rows: list[dict[str, Any]]) -> None:
        data = b"".join(orjson.dumps(row) + b"\n" for row in rows)
        with self._lock, open(self.path, "ab") as f:
            f.write(data)
            f.flush()

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

    @staticmethod
    def read_batches(path: Path, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        with open(path, "rb") as f:
            for line in f:
                if line.strip():
                    try:
                        batch.append(orjson.loads(line))
                    except orjson.JSONDecodeError:
                        continue  # a line torn by a crash mid-write
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def end_replay(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def pending_records(self) -> int:
        return sum(_count_lines(p) for p in (self.path, self.replaying_path))


def _nonempty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    except FileNotFoundError:
        return 0
