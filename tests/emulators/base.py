"""What every vendor emulator shares: the scripted answer, faults, and what it received."""

from __future__ import annotations

import asyncio
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

VALID_KEY = "sk-test-emulator-key-0123456789"
DEFAULT_REPLY = "Hello! I am an emulated assistant. How can I help you today?"
TOOL_ARGUMENT_PIECES = ['{"', "location", '":"', "Paris", '"}']


@dataclass
class Fault:
    """What an emulator does instead of a plain answer.

    kind: "status" (HTTP error `status` with `message`), "midstream_error" (a stream error
    after `after_chunks` content chunks), "truncated" (the stream stops after `after_chunks`
    content chunks, with no finish; OpenAI), "no_usage" (no usage reported), "hang" (the
    stream starts, then nothing for `seconds`), "mangle" (every event's payload of the stream
    goes through `mangle(index, payload)` before it is encoded: see `mangled`).
    """

    kind: str
    status: int = 500
    message: str = "The server had an error while processing your request."
    headers: dict[str, str] = field(default_factory=dict)
    after_chunks: int = 2
    seconds: float = 30.0
    mangle: Callable[[int, Any], Any] | None = None


DROP = object()  # a mangler's answer: this event is not sent
TRUNCATE = object()  # a mangler's answer: the stream stops here (no finish, no error)


class _Truncated(Exception):
    pass


_mangler: ContextVar[tuple[Callable[[int, Any], Any], list[int]] | None] = ContextVar("mangler", default=None)


def mangled(payload: Any) -> Any:
    """The payload of a stream's next event as the stream's "mangle" fault makes it (unchanged
    without one): the encoders of every emulator call this, so a test can feed odd types,
    missing fields, dropped events and truncations through each vendor's real framing."""
    active = _mangler.get()
    if active is None:
        return payload
    mangle, counter = active
    counter[0] += 1
    result = mangle(counter[0] - 1, payload)
    if result is TRUNCATE:
        raise _Truncated
    return result


class EmulatorState:
    """Steered by tests through attributes; `reset()` between tests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.queries: list[dict[str, str]] = []
        self.faults: deque[Fault] = deque()
        self.reset()

    def reset(self) -> None:
        self.requests.clear()
        self.headers.clear()
        self.paths.clear()
        self.queries.clear()
        self.faults.clear()
        self.chunk_delay_s = 0.0
        self.reply = DEFAULT_REPLY
        self.usage_extra: dict[str, int] = {}
        self.thinking: str | None = None  # reasoning text the model streams before its answer
        self.closed_early = 0  # streams the gateway closed before their end (see `watched`)
        self.streaming = 0  # streams being answered now
        self.most_streaming = 0  # the most at once since the reset

    async def watched(self, chunks: AsyncIterator[bytes], fault: Fault | None = None) -> AsyncIterator[bytes]:
        """A stream's chunks, counting in `closed_early` a stream the client closed before its end;
        a "mangle" fault is applied to each event as it is encoded."""
        finished = False
        if fault is not None and fault.mangle is not None:
            _mangler.set((fault.mangle, [0]))
        self.streaming += 1
        self.most_streaming = max(self.most_streaming, self.streaming)
        try:
            async for chunk in chunks:
                if chunk:  # an event the mangler dropped encodes as nothing
                    yield chunk
            finished = True
        except _Truncated:
            finished = True
        finally:
            self.streaming -= 1
            if not finished:
                self.closed_early += 1

    def remember(self, request: Any, body: dict[str, Any]) -> None:
        """Keep what a request carried: body, headers, path and query (a Starlette request)."""
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        self.paths.append(request.url.path)
        self.queries.append(dict(request.query_params))

    def next_fault(self) -> Fault | None:
        return self.faults.popleft() if self.faults else None

    def pieces(self) -> list[str]:
        """The reply in stream pieces: one word each, with its leading space."""
        words = self.reply.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    async def pause(self) -> None:
        if self.chunk_delay_s:
            await asyncio.sleep(self.chunk_delay_s)
