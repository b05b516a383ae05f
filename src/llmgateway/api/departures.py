"""A client that leaves cancels its upstream call, before the first byte of its answer or
while the answer streams, and the call is recorded as cancelled.

The server (uvicorn, ASGI 2.3) drops writes to a departed client without an error, and a
request that waits on its upstream writes nothing for a long time. So the request's own
`receive` channel is watched for the disconnect, by one task beside the request's, and the
request's task is cancelled the moment it comes (a streamed answer is cancelled where it
waits, and its chunks' generator records the call). A client that stays costs one waiting
task a request.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator, Awaitable, TypeVar

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive

from llmgateway.api.errors import error_response
from llmgateway.core.call import Call

T = TypeVar("T")

CLIENT_CLOSED_REQUEST = 499  # nginx's status for it: no one reads it, the access log does


class Departure:
    """Whether the watched client left (and so the work in the watch was cancelled)."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = False


@asynccontextmanager
async def cancelled_when_the_client_leaves(receive: Receive) -> AsyncIterator[Departure]:
    """Cancel the work inside when the client disconnects; the watch ends quietly then, and
    `left` says so. Any other cancellation (a shutdown) goes on as it came.

    `receive` must have given the request's whole body already: what it answers next is
    the disconnect (or, once the response is complete, the end of the request)."""
    task = asyncio.current_task()
    assert task is not None
    departure = Departure()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        departure.left = True
        task.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        yield departure
    except asyncio.CancelledError:
        if not departure.left or task.uncancel() > 0:
            raise  # not the client's doing, or cancelled from outside as well
    else:
        if departure.left:  # the work caught the departure's cancel and ended anyway
            task.uncancel()
    finally:
        watcher.cancel()


async def unless_the_client_leaves(request: Request, call: Call, work: Awaitable[T]) -> T | None:
    """`work`'s result; None when the client left first (the call is then cancelled and recorded)."""
    async with cancelled_when_the_client_leaves(request.receive) as departure:
        # In a task of its own: the request's task resumes through every middleware and
        # frame of the framework on each wake-up, which measured ~10% more CPU a request.
        return await asyncio.ensure_future(work)
    assert departure.left
    with anyio.CancelScope(shield=True):
        await call.finish()  # cancelled: its status is "cancelled"
    return None


def client_left_response() -> Response:
    return error_response(CLIENT_CLOSED_REQUEST, "client_closed_request", "the client closed the connection")
