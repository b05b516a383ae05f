"""The journal: why a crash loses no answered request.

Every finished record is appended here, one `write()` of one JSON line, before the last
byte of its answer leaves the gateway. The write lands in the kernel's page cache, which a
killed process (`kill -9`, an OOM kill, a crash) does not lose; a power loss may. The writer
stores records in the database from its queue, and tells the journal how far it got
(`commit`); a segment whose records are all stored (or spilled, or dead-lettered) is
deleted. A process that starts replays, idempotently by record id, the segments of
processes that are gone: each live process holds an exclusive lock on its open segments,
so a segment whose lock can be taken has no writer left.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

_SEGMENT_RECORDS = 1000


@dataclass(slots=True)
class _Segment:
    path: Path
    fd: int
    last_seq: int = 0


class Journal:
    def __init__(self, directory: Path, segment_records: int = _SEGMENT_RECORDS) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._segment_records = segment_records
        self._seq = 0
        self._in_current = 0
        self._current: _Segment | None = None
        self._closed: deque[_Segment] = deque()  # rotated, not yet committed
        self._orphans: dict[Path, int] = {}  # segments of gone processes, locked by us

    def orphans(self) -> list[Path]:
        """Segments left by processes that are gone, oldest first; each is locked for us now."""
        found = []
        for path in sorted(self.directory.glob("*.jsonl")):
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # held by a live process
                os.close(fd)
                continue
            self._orphans[path] = fd
            found.append(path)
        return found

    def discard(self, orphan: Path) -> None:
        """An orphan segment whose records are now stored elsewhere."""
        self._delete(_Segment(orphan, self._orphans.pop(orphan)))

    def append(self, line: bytes) -> int:
        """Append one record's line; its sequence number, for `commit`."""
        if self._current is None or self._in_current >= self._segment_records:
            self._rotate()
        assert self._current is not None
        os.write(self._current.fd, line)
        self._seq += 1
        self._in_current += 1
        self._current.last_seq = self._seq
        return self._seq

    def commit(self, seq: int) -> None:
        """Every record up to `seq` is stored elsewhere: delete the segments that hold only those."""
        while self._closed and self._closed[0].last_seq <= seq:
            self._delete(self._closed.popleft())

    def close(self, fully_committed: bool) -> None:
        """At shutdown: delete every segment if all their records are stored, else keep them."""
        segments = [*self._closed, *([self._current] if self._current else [])]
        for fd in self._orphans.values():
            os.close(fd)
        self._orphans.clear()
        for segment in segments:
            if fully_committed:
                self._delete(segment)
            else:
                os.close(segment.fd)
        self._closed.clear()
        self._current = None

    @property
    def last_seq(self) -> int:
        return self._seq

    def _rotate(self) -> None:
        if self._current is not None:
            self._closed.append(self._current)
        path = self.directory / f"{time.time_ns()}-{os.getpid()}.jsonl"  # named in time order
        # Locked under another name, then renamed: a recovering journal (of another process, or
        # of another gateway in this one) must never see, and lock, a segment before its owner.
        creating = path.with_suffix(".new")
        fd = os.open(creating, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(creating, path)
        self._current = _Segment(path, fd, self._seq)
        self._in_current = 0

    @staticmethod
    def _delete(segment: _Segment) -> None:
        segment.path.unlink(missing_ok=True)
        os.close(segment.fd)
