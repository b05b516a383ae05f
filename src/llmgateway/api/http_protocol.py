"""The HTTP/1.1 protocol the server runs: uvicorn's httptools protocol, with the request
head bounded (`LLMGATEWAY_MAX_HEADER_BYTES`) and its writes coalesced.

httptools buffers a header until it is complete, so the bound is counted on the bytes that
arrive before the head ends: past it the client gets a 431 and the connection closes.

uvicorn writes a response's head, then each body message, with a transport write (a send to the
socket) of its own. The connection's writes made in one turn of the event loop leave together
instead, at the end of that turn: a JSON answer's head and body in one send, and the chunks of a
streamed answer that arrived from upstream in one read. An answer's last bytes leave as soon as
it is complete, before the work that follows it in the same turn (the access line, the request's
teardown).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from llmgateway.api.departures import DEPARTURE_EXTENSION, DepartureNotice
from llmgateway.errors import error_body
from llmgateway.settings import get_settings

# Held bytes past this are sent at once: the socket's transport then sees them, and its flow
# control (uvicorn waits before the next write while its buffer is full) works as without holding.
_SEND_AT_BYTES = 64 * 1024


class CoalescingTransport:
    """The connection's transport, its writes in one turn of the loop sent as one.

    Everything but writing and closing goes to the socket's transport unchanged; closing sends
    what is held first. What is held for a connection already lost is dropped, as the socket's
    transport would drop it.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._held_bytes = 0

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.send_held)
        self._held.append(data)
        self._held_bytes += len(data)
        if self._held_bytes >= _SEND_AT_BYTES:
            self.send_held()

    def send_held(self) -> None:
        held, self._held, self._held_bytes = self._held, [], 0
        if not held or self._transport.is_closing():
            return  # sent already (a complete answer, 64 KiB), or the connection is gone
        self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.send_held()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedHeadHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_head_bytes = get_settings().max_header_bytes
        self._head_bytes = 0
        self._head_done = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._head_done:
            super().data_received(data)
            return
        self._head_bytes += len(data)
        super().data_received(data)  # the head may end in this chunk
        if not self._head_done and self._head_bytes > self._max_head_bytes and not self.transport.is_closing():
            self._refuse()

    def on_headers_complete(self) -> None:
        self._head_done = True
        self.scope.setdefault("extensions", {})[DEPARTURE_EXTENSION] = DepartureNotice()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        cycle = self.cycle
        super().connection_lost(exc)
        if cycle is not None and not cycle.response_complete:
            cycle.scope["extensions"][DEPARTURE_EXTENSION].client_left()

    def on_response_complete(self) -> None:
        self.transport.send_held()  # type: ignore[attr-defined]
        super().on_response_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_done, self._head_bytes = False, 0  # the next request on this connection

    def _refuse(self) -> None:
        message = f"the request head is larger than the limit of {self._max_head_bytes} bytes (LLMGATEWAY_MAX_HEADER_BYTES)"
        body = orjson.dumps(error_body("request_header_fields_too_large", message))
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        self.transport.write(head + body)
        self.transport.close()
