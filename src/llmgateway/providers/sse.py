"""Server-sent events from a vendor's response, decoded as the WHATWG spec says.

Vendors' SDKs decode SSE into typed pydantic models, which costs ~200 us of CPU per chunk;
the gateway decodes the bytes here as the socket gives them, leaving JSON parsing to orjson.
The decoder is fed whole chunks and hands back the events they complete, so a stream of
thirty lines costs a few calls, not an await per line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ServerSentEvent:
    event: str
    data: str


class SSEDecoder:
    """Groups lines into events: `event:` names one, `data:` lines join, a blank line ends it.
    Lines end in `\\n` or `\\r\\n`; a line cut between chunks waits for its end."""

    __slots__ = ("_pending", "_event", "_data")

    def __init__(self) -> None:
        self._pending = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events the chunk completes. The complete lines are decoded at once: a line's
        end is never inside a UTF-8 character, so only the unfinished line waits as bytes."""
        buffer = self._pending + chunk
        end = buffer.rfind(b"\n")
        if end < 0:
            self._pending = buffer
            return []
        self._pending = buffer[end + 1 :]
        return self._events(buffer[:end].decode().split("\n"))

    def end(self) -> list[ServerSentEvent]:
        """The events the stream's end completes (a last line without its end, an event
        without its blank line)."""
        events = self._events([self._pending.decode()] if self._pending else [])
        self._pending = b""
        if self._data:
            events.append(ServerSentEvent(self._event or "message", "\n".join(self._data)))
            self._event, self._data = "", []
        return events

    def _events(self, lines: list[str]) -> list[ServerSentEvent]:
        events = []
        for line in lines:
            line = line.rstrip("\r")
            if line.startswith("data: "):  # the usual line, first
                self._data.append(line[6:])
                continue
            if not line:
                if self._data:
                    events.append(ServerSentEvent(self._event or "message", "\n".join(self._data)))
                self._event, self._data = "", []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
        return events
