"""Streaming a call to the client as server-sent events, in any surface's chunk shape.

The first output event is awaited before the response starts, so a failure before the first
byte (bad key, rate limit, all retries spent) is still a plain HTTP error with its status.
After the first byte, a failure becomes an `event: error` and the stream ends. A client
that goes away cancels the upstream call, and the call is still recorded, as cancelled.
"""

from __future__ import annotations

from typing import AsyncIterator, Protocol

import anyio
import orjson
from starlette.responses import StreamingResponse

from llmgateway.core.call import Call, CallResult
from llmgateway.core.errors import GatewayError
from llmgateway.providers.base import TextDelta, ToolCallDelta

OutputEvent = TextDelta | ToolCallDelta
DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_data(payload: dict) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def sse_error(error: GatewayError) -> bytes:
    return b"event: error\ndata: " + orjson.dumps(error.to_body()) + b"\n\n"


class ChunkFormat(Protocol):
    """How one API surface shapes its stream."""

    def opening(self, call: Call) -> bytes: ...

    def delta(self, call: Call, event: OutputEvent) -> bytes: ...

    def closing(self, result: CallResult) -> bytes: ...


async def stream_response(call: Call, chunk_format: ChunkFormat, headers: dict[str, str] | None = None) -> StreamingResponse:
    """Start the call; raise its error if it fails before any output, else stream it."""
    output = call.output()
    try:
        first = await anext(output, None)
    except GatewayError:
        await call.finish()
        raise
    body = _events(call, output, first, chunk_format)
    return StreamingResponse(body, media_type="text/event-stream", headers={**SSE_HEADERS, **(headers or {})})


async def _events(
    call: Call, output: AsyncIterator[OutputEvent], first: OutputEvent | None, chunk_format: ChunkFormat
) -> AsyncIterator[bytes]:
    finished = False
    try:
        yield chunk_format.opening(call)
        if first is not None:
            yield chunk_format.delta(call, first)
            async for event in output:
                yield chunk_format.delta(call, event)
        result = await call.finish()
        finished = True
        yield chunk_format.closing(result)
    except GatewayError as exc:
        await call.finish()
        finished = True
        yield sse_error(exc)
    finally:
        if not finished:  # the client went away: close upstream, record what was streamed
            with anyio.CancelScope(shield=True):
                await output.aclose()  # type: ignore[attr-defined]
                await call.finish()
