"""The server's HTTP protocol sends a connection's writes of one turn of the event loop together:
a JSON answer's head and body in one send, a streamed answer's chunks that were ready together
in one send, each chunk still framed on its own. A complete answer leaves at once, before the
application's work after it; nothing held is lost when the connection closes.

The protocol is driven as uvicorn drives it, with a transport that records each write (each
would be one send to the socket).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from llmgateway.api.departures import DEPARTURE_EXTENSION
from llmgateway.api.http_protocol import BoundedHeadHttpProtocol

REQUEST = b"GET / HTTP/1.1\r\nhost: gateway\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    """What the socket would have been sent, one entry a write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.written_after_close: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        (self.written_after_close if self.closed else self.writes).append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def json_answer(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"11")]})
    await send({"type": "http.response.body", "body": b'{"ok":true}'})


async def streamed_answer(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    for text in (b"data: one\n\n", b"data: two\n\n"):  # ready together, as from one upstream read
        await send({"type": "http.response.body", "body": text, "more_body": True})
    await asyncio.sleep(0.01)  # the next arrives later
    await send({"type": "http.response.body", "body": b"data: three\n\n", "more_body": False})


async def closing_answer(scope, receive, send) -> None:
    await send({
        "type": "http.response.start", "status": 200,
        "headers": [(b"content-length", b"4"), (b"connection", b"close")],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": b"last"})


def protocol_for(app) -> BoundedHeadHttpProtocol:
    config = uvicorn.Config(app=app, lifespan="off", log_level="warning")
    config.load()
    return BoundedHeadHttpProtocol(config=config, server_state=ServerState(), app_state={})


async def served(app, transport: RecordingTransport | None = None) -> RecordingTransport:
    protocol = protocol_for(app)
    transport = transport or RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(REQUEST)
    for _ in range(50):
        await asyncio.sleep(0.005)
        if protocol.cycle is not None and protocol.cycle.response_complete:
            break
    await asyncio.sleep(0.005)  # the turn that sends what was held
    if protocol.timeout_keep_alive_task is not None:
        protocol.timeout_keep_alive_task.cancel()
    return transport


async def test_a_json_answer_leaves_in_one_send() -> None:
    transport = await served(json_answer)
    assert len(transport.writes) == 1, transport.writes
    (sent,) = transport.writes
    assert sent.startswith(b"HTTP/1.1 200 OK\r\n") and sent.endswith(b'\r\n\r\n{"ok":true}')


async def test_chunks_ready_together_leave_together_each_framed_on_its_own() -> None:
    transport = await served(streamed_answer)
    assert len(transport.writes) == 2, transport.writes
    first, second = transport.writes
    head, _, chunks = first.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    assert chunks == b"b\r\ndata: one\n\n\r\nb\r\ndata: two\n\n\r\n"
    assert second == b"d\r\ndata: three\n\n\r\n0\r\n\r\n"


async def test_what_is_held_is_sent_before_the_connection_closes() -> None:
    transport = await served(closing_answer)
    assert transport.closed and transport.written_after_close == []
    assert len(transport.writes) == 1 and transport.writes[0].endswith(b"\r\n\r\nlast"), transport.writes


async def test_a_complete_answer_leaves_before_the_work_after_it() -> None:
    transport = RecordingTransport()
    sent_when_complete: list[bytes] = []

    async def json_answer_then_work(scope, receive, send) -> None:
        await json_answer(scope, receive, send)
        sent_when_complete.extend(transport.writes)  # then the access line, the teardown ...

    await served(json_answer_then_work, transport)
    assert sent_when_complete == transport.writes
    assert len(transport.writes) == 1 and transport.writes[0].endswith(b'{"ok":true}')



async def large_answer(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"122880")]})
    for _ in range(3):  # in one turn, as a generator over rows in memory would send them
        await send({"type": "http.response.body", "body": b"x" * 40960, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def test_a_large_answer_is_not_held_whole_so_flow_control_still_works() -> None:
    transport = await served(large_answer)
    first, *rest = transport.writes
    assert 64 * 1024 <= len(first) < 100 * 1024, [len(w) for w in transport.writes]  # sent past 64 KiB held
    assert rest and b"".join(transport.writes).endswith(b"x" * 122880)


async def test_what_is_held_for_a_connection_already_gone_is_dropped() -> None:
    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": b"data: one\n\n", "more_body": True})
        transport.closed = True  # the client's socket closed in this same turn
        await asyncio.sleep(10)

    protocol = protocol_for(app)
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(REQUEST)
    await asyncio.sleep(0.01)  # the turn ends: nothing is written on the closed transport
    protocol.connection_lost(None)  # which closes it again, still without a write
    assert transport.writes == [] and transport.written_after_close == []
    for task in protocol.tasks:
        task.cancel()

@pytest.mark.parametrize("answer_complete", [False, True], ids=["while it waits", "after its answer"])
async def test_a_lost_connection_tells_the_request_its_client_left(answer_complete: bool) -> None:
    told: list[str] = []

    async def app(scope, receive, send) -> None:
        scope["extensions"][DEPARTURE_EXTENSION].watch(lambda: told.append("left"))
        if answer_complete:
            await json_answer(scope, receive, send)
        await asyncio.sleep(10)  # the upstream has not answered yet, or the work after the answer

    protocol = protocol_for(app)
    protocol.connection_made(RecordingTransport())
    protocol.data_received(REQUEST)
    await asyncio.sleep(0.01)
    protocol.connection_lost(None)
    assert told == ([] if answer_complete else ["left"])
    for task in protocol.tasks:
        task.cancel()
