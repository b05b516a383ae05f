"""Server-sent events from a vendor's response, decoded as the WHATWG spec says.

Vendors' SDKs decode SSE into typed pydantic models, which costs ~200 us of CPU per chunk;
the gateway reads the raw lines through the SDK (keeping its URLs, auth and errors) and
decodes them here, leaving JSON parsing to orjson.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterable, AsyncIterator


@dataclass(slots=True)
class ServerSentEvent:
    event: str
    data: str


async def iter_sse(lines: AsyncIterable[str]) -> AsyncIterator[ServerSentEvent]:
    """Group lines into events: `event:` names one, `data:` lines join, a blank line ends it."""
    event = ""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield ServerSentEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield ServerSentEvent(event or "message", "\n".join(data))
