"""Streaming a call to the client, in any surface's chunk shape and either framing.

The first output event is awaited before the response starts, so a failure before the first
byte (bad key, rate limit, all retries spent) is still a plain HTTP error with its status.
A client that goes away cancels the upstream call, and the call is still recorded, as
cancelled.

Three framings carry the chunks:
- server-sent events (`text/event-stream`): `data: {chunk}` each, then `data: [DONE]`; a
  failure after the first byte is an `event: error` with `{"error": {...}}`;
- named server-sent events, as Anthropic's Messages API and OpenAI's Responses API stream:
  `event: {chunk["type"]}` before each `data:`, no `[DONE]`; a failure after the first byte
  is whatever the surface's `failure()` makes of it;
- JSON chunks (`application/json`), as LLMstudio's proxy streams: each chunk is one JSON
  object in one HTTP chunk of the chunked body, so a reader of HTTP chunks gets exactly one
  object each (ended by a newline, so that curl shows one a line); a failure after the first
  byte is one last object, `{"error": {...}}`.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Protocol, Sequence, runtime_checkable

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from llmgateway.api.departures import cancelled_when_the_client_leaves, client_left_response, unless_the_client_leaves
from llmgateway.core.call import Call
from llmgateway.errors import GatewayError
from llmgateway.vocabulary.events import OutputEvent
from llmgateway.vocabulary.results import CallResult

Chunk = dict[str, Any]
DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ChunkFormat(Protocol):
    """How one API surface shapes its stream. An event may open or close blocks of the
    surface's own, so `opening` and `delta` may answer several chunks (a list) for one."""

    def opening(self, call: Call) -> Chunk | list[Chunk] | None: ...

    def delta(self, call: Call, event: OutputEvent) -> Chunk | list[Chunk]: ...

    def closing(self, result: CallResult) -> list[Chunk]: ...


@runtime_checkable
class NamedEventFormat(ChunkFormat, Protocol):
    """A surface that names its events (`type`), and says a failure mid-stream its own way."""

    def failure(self, error: GatewayError) -> list[Chunk]: ...


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
        for chunk in _each(chunk_format.opening(call)):
            yield chunk
        if first is not None:
            for chunk in _each(chunk_format.delta(call, first)):
                yield chunk
            async for event in output:
                for chunk in _each(chunk_format.delta(call, event)):
                    yield chunk
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


def _each(produced: Chunk | list[Chunk] | None) -> Sequence[Chunk]:
    """What a chunk format answered for one event, as chunks to send: none, one, or several."""
    if isinstance(produced, list):
        return produced
    return () if produced is None else (produced,)


async def stream_response(
    request: Request, call: Call, chunk_format: ChunkFormat, headers: dict[str, str] | None = None, *,
    json_chunks: bool = False,
) -> Response:
    """The call's chunks as server-sent events, or with `json_chunks` one JSON object per HTTP chunk."""
    opened = await unless_the_client_leaves(request, call, open_stream(call))
    if opened is None:
        return client_left_response()
    output, first = opened
    chunks = guarded_chunks(call, output, first, chunk_format)
    if json_chunks:
        body, media_type = _json_chunks(chunks), "application/json"
    elif isinstance(chunk_format, NamedEventFormat):
        body, media_type = _named_events(chunks, chunk_format), "text/event-stream"
    else:
        body, media_type = _server_sent_events(chunks), "text/event-stream"
    return WatchedStream(body, media_type=media_type, headers={**SSE_HEADERS, **(headers or {})})


class WatchedStream(StreamingResponse):
    """Starlette's streamed response, with the gateway's departure watch (api/departures.py;
    Starlette's own, under uvicorn's ASGI 2.3, is an anyio task group and a task of its own for
    every answer). A client that leaves cancels the stream where it waits, and the chunks'
    generator records the call as cancelled."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with cancelled_when_the_client_leaves(scope, receive):
            await self.stream_response(send)


async def _server_sent_events(chunks: AsyncIterator[Chunk]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
        yield DONE
    except GatewayError as exc:
        yield b"event: error\ndata: " + orjson.dumps(exc.to_body()) + b"\n\n"


async def _named_events(chunks: AsyncIterator[Chunk], chunk_format: NamedEventFormat) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield _named_event(chunk)
    except GatewayError as exc:
        for chunk in chunk_format.failure(exc):
            yield _named_event(chunk)


def _named_event(chunk: Chunk) -> bytes:
    return b"event: " + chunk["type"].encode() + b"\ndata: " + orjson.dumps(chunk) + b"\n\n"


async def _json_chunks(chunks: AsyncIterator[Chunk]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield orjson.dumps(chunk, option=orjson.OPT_APPEND_NEWLINE)
    except GatewayError as exc:
        yield orjson.dumps(exc.to_body(), option=orjson.OPT_APPEND_NEWLINE)


def wants_server_sent_events(accept: str | None) -> bool:
    """Whether the client asked for SSE framing (`Accept: text/event-stream`)."""
    return accept is not None and "text/event-stream" in accept
