"""A raw TCP server that misbehaves the ways upstreams do, below what an HTTP framework allows.

Modes: "silent" (reads the request, never answers), "reset" (reads the request, then resets
the connection), "garbage" (answers bytes that are not HTTP), "bad_json" (a 200 SSE stream
whose data is not JSON), "drip" (a 200 SSE stream that sends one chunk every `drip_s`,
forever), "full" (a listening socket whose accept queue is full, so connecting hangs).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from contextlib import contextmanager
from typing import Iterator

import orjson

_SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _drip_chunk(i: int) -> bytes:
    payload = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o-mini",
               "choices": [{"index": 0, "delta": {"content": f"drip{i} "}, "finish_reason": None}]}  # fmt: skip
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class FaultyUpstream:
    def __init__(self, mode: str, drip_s: float = 0.2) -> None:
        self.mode = mode
        self.drip_s = drip_s
        self.connections = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.mode == "silent":
                await asyncio.sleep(3600)
            elif self.mode == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            elif self.mode == "garbage":
                writer.write(b"\x00\xffTHIS IS NOT HTTP\r\n\r\n\x13\x37")
            elif self.mode == "bad_json":
                writer.write(_SSE_HEAD + _chunked(b"data: {not json at all\n\n"))
            elif self.mode == "drip":
                writer.write(_SSE_HEAD)
                i = 0
                while True:
                    writer.write(_chunked(_drip_chunk(i)))
                    await writer.drain()
                    i += 1
                    await asyncio.sleep(self.drip_s)
            await writer.drain()
            writer.close()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass


@contextmanager
def faulty_upstream(mode: str, drip_s: float = 0.2) -> Iterator[tuple[str, FaultyUpstream]]:
    """Serve a misbehaving upstream on loopback; yields (base URL ending in /v1, the server)."""
    upstream = FaultyUpstream(mode, drip_s)
    if mode == "full":
        with _full_listener() as port:
            yield f"http://127.0.0.1:{port}/v1", upstream
        return
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, asyncio.AbstractServer] = {}

    async def start() -> None:
        holder["server"] = await asyncio.start_server(upstream._handle, "127.0.0.1", 0)
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    started.wait(10)
    port = holder["server"].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1", upstream
    finally:
        loop.call_soon_threadsafe(holder["server"].close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


@contextmanager
def _full_listener() -> Iterator[int]:
    """A socket that listens but never accepts, its queue filled so a new connect hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # more than the accept queue holds: later SYNs are dropped
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
