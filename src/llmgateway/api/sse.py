"""Streaming a call to the client, in any surface's chunk shape.

The first output event is awaited before the response starts, so a failure before the first
byte (bad key, rate limit, all retries spent) is still a plain HTTP error with its status.
After the first byte, a failure becomes an `event: error` and the stream ends. A client
that goes away cancels the upstream call, and the call is still recorded, as cancelled.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Protocol

import anyio
import orjson
from starlette.responses import StreamingResponse

from llmgateway.core.call import Call, CallResult
from llmgateway.core.errors import GatewayError
from llmgateway.providers.base import TextDelta, ToolCallDelta

OutputEvent = TextDelta | ToolCallDelta
Chunk = dict[str, Any]
DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ChunkFormat(Protocol):
    """How one API surface shapes its stream."""

    def opening(self, call: Call) -> Chunk | None: ...

    def delta(self, call: Call, event: OutputEvent) -> Chunk: ...

    def closing(self, result: CallResult) -> list[Chunk]: ...


async def open_stream(call: Call) -> tuple[AsyncIterator[OutputEvent], OutputEvent | None]:
    """Start the call and wait for its first output; a failure here is raised (and recorded)."""
    output = call.output()
    try:
        first = await anext(output, None)
    except GatewayError:
        await call.finish()
        raise
    return output, first


async def guarded_chunks(
    call: Call, output: AsyncIterator[OutputEvent], first: OutputEvent | None, chunk_format: ChunkFormat
) -> AsyncIterator[Chunk]:
    """The call's chunks; the call is finished (and recorded) however the stream ends."""
    try:
        opening = chunk_format.opening(call)
        if opening is not None:
            yield opening
        if first is not None:
            yield chunk_format.delta(call, first)
            async for event in output:
                yield chunk_format.delta(call, event)
        for chunk in chunk_format.closing(await call.finish()):
            yield chunk
    except GatewayError:
        await call.finish()
        raise
    finally:
        if not call.finished:  # the consumer went away: close upstream, record what was streamed
            with anyio.CancelScope(shield=True):
                await output.aclose()  # type: ignore[attr-defined]
                await call.finish()


async def stream_response(call: Call, chunk_format: ChunkFormat, headers: dict[str, str] | None = None) -> StreamingResponse:
    """Server-sent events of the call: `data: {chunk}` each, then `data: [DONE]`."""
    output, first = await open_stream(call)
    body = _server_sent_events(guarded_chunks(call, output, first, chunk_format))
    return StreamingResponse(body, media_type="text/event-stream", headers={**SSE_HEADERS, **(headers or {})})


async def _server_sent_events(chunks: AsyncIterator[Chunk]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
        yield DONE
    except GatewayError as exc:
        yield b"event: error\ndata: " + orjson.dumps(exc.to_body()) + b"\n\n"
