"""A client that leaves before the first byte of its answer cancels the upstream call.

Once the answer streams, the server notices a departed client at its next write; before
that (a non-streaming request, or a stream waiting for its first output) nothing would be
written for a long time, so the request's own `receive` channel is watched for the
disconnect, and the call is cancelled the moment it comes, and recorded as cancelled.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, TypeVar

import anyio
from starlette.requests import Request
from starlette.responses import Response

from llmgateway.api.errors import error_response
from llmgateway.core.call import Call

T = TypeVar("T")

CLIENT_CLOSED_REQUEST = 499  # nginx's status for it: no one reads it, the access log does


async def unless_the_client_leaves(request: Request, call: Call, work: Awaitable[T]) -> T | None:
    """`work`'s result; None when the client left first (the call is then cancelled and recorded)."""
    working = asyncio.ensure_future(work)
    watching = asyncio.ensure_future(_departure(request))
    try:
        await asyncio.wait((working, watching), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watching.cancel()
    if working.done():
        return working.result()
    working.cancel()
    with anyio.CancelScope(shield=True):
        try:
            await working
        except asyncio.CancelledError:
            pass
        await call.finish()  # cancelled: its status is "cancelled"
    return None


def client_left_response() -> Response:
    return error_response(CLIENT_CLOSED_REQUEST, "client_closed_request", "the client closed the connection")


async def _departure(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
