"""A client that leaves cancels its upstream call, before the first byte of its answer or
while the answer streams, and the call is recorded as cancelled.

The server (uvicorn, ASGI 2.3) drops writes to a departed client without an error, and a
request that waits on its upstream writes nothing for a long time. So the request's task is
cancelled the moment the client's connection is lost (a streamed answer is cancelled where it
waits, and its chunks' generator records the call). The gateway's own server says so itself:
its protocol (api/http_protocol.py) hands each request a `DepartureNotice` (the ASGI extension
`llmgateway.departure`) and calls it when the connection is lost. Under any other ASGI server
one task beside the request's waits on the request's `receive` for the disconnect; that task
was ~10% of a JSON request's CPU (bench/profile.md).
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator, Awaitable, Callable, TypeVar

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope

from llmgateway.api.errors import error_response
from llmgateway.core.call import Call

T = TypeVar("T")

CLIENT_CLOSED_REQUEST = 499  # nginx's status for it: no one reads it, the access log does

DEPARTURE_EXTENSION = "llmgateway.departure"


class DepartureNotice:
    """What the server calls when a request's client leaves before its answer is complete
    (`scope["extensions"]["llmgateway.departure"]`): it runs the callbacks watching then."""

    __slots__ = ("_callbacks",)

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []

    def watch(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def unwatch(self, callback: Callable[[], None]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def client_left(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


class Departure:
    """Whether the watched client left (and so the work in the watch was cancelled)."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = False


@asynccontextmanager
async def cancelled_when_the_client_leaves(scope: Scope, receive: Receive) -> AsyncIterator[Departure]:
    """Cancel the work inside when the client disconnects; the watch ends quietly then, and
    `left` says so. Any other cancellation (a shutdown) goes on as it came.

    `receive` must have given the request's whole body already: what it answers next is
    the disconnect (or, once the response is complete, the end of the request)."""
    task = asyncio.current_task()
    assert task is not None
    departure = Departure()

    def left() -> None:
        departure.left = True
        task.cancel()

    stop_watching = _watch_for_departure(scope, receive, left)
    try:
        yield departure
    except asyncio.CancelledError:
        if not departure.left or task.uncancel() > 0:
            raise  # not the client's doing, or cancelled from outside as well
    else:
        if departure.left:  # the work caught the departure's cancel and ended anyway
            task.uncancel()
    finally:
        stop_watching()


def _watch_for_departure(scope: Scope, receive: Receive, left: Callable[[], None]) -> Callable[[], None]:
    """Call `left` when the client disconnects; returns what stops watching."""
    notice = (scope.get("extensions") or {}).get(DEPARTURE_EXTENSION)
    if notice is not None:  # the gateway's own server
        notice.watch(left)
        return lambda: notice.unwatch(left)

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        left()

    return asyncio.ensure_future(watch()).cancel


async def unless_the_client_leaves(request: Request, call: Call, work: Awaitable[T]) -> T | None:
    """`work`'s result; None when the client left first (the call is then cancelled and recorded)."""
    async with cancelled_when_the_client_leaves(request.scope, request.receive) as departure:
        # In a task of its own: the request's task resumes through every middleware and
        # frame of the framework on each wake-up, which measured ~10% more CPU a request.
        return await asyncio.ensure_future(work)
    assert departure.left
    with anyio.CancelScope(shield=True):
        await call.finish()  # cancelled: its status is "cancelled"
    return None


def client_left_response() -> Response:
    return error_response(CLIENT_CLOSED_REQUEST, "client_closed_request", "the client closed the connection")
