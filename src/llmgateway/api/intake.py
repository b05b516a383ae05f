"""The first thing every request meets: its arrival time, and the bounds on its body.

`received_at` (monotonic) is where every latency metric starts. The body size limit is
checked on Content-Length before anything is read, and counted while reading for chunked
uploads. The whole body must arrive within `LLMGATEWAY_BODY_TIMEOUT_S` of the request's
arrival, so a client that sends it a byte at a time gets a 408 and the connection closes.
"""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmgateway.api.errors import error_response
from llmgateway.vocabulary.requests import Origin


class RequestIntakeMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout_s: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received_at = scope.setdefault("state", {})["received_at"] = time.monotonic()
        body_deadline = asyncio.get_running_loop().time() + self.body_timeout_s
        limit = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    response = error_response(413, "payload_too_large", self._message())
                    await response(scope, receive, send)
                    return
                break
        received = 0
        rejected = False
        body_complete = False

        async def refuse(status: int, error_type: str, message: str) -> Message:
            # Answer here and tell the app the client left: whatever it then tries to send
            # is dropped by guarded_send.
            nonlocal rejected
            rejected = True
            await error_response(status, error_type, message, {"Connection": "close"})(scope, receive, send)
            return {"type": "http.disconnect"}

        async def counting_receive() -> Message:
            nonlocal received, body_complete
            if rejected:
                return {"type": "http.disconnect"}
            if body_complete:  # the app listens for a disconnect: no deadline on that
                return await receive()
            try:
                async with asyncio.timeout_at(body_deadline):
                    message = await receive()
            except TimeoutError:
                return await refuse(408, "request_timeout", self._timeout_message(received_at))
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_complete = not message.get("more_body", False)
                if received > limit:
                    return await refuse(413, "payload_too_large", self._message())
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)

    def _timeout_message(self, received_at: float) -> str:
        return (
            f"the request body did not arrive within {self.body_timeout_s:g} s (LLMGATEWAY_BODY_TIMEOUT_S); "
            f"waited {time.monotonic() - received_at:.1f} s"
        )

    def _message(self) -> str:
        return f"the request body is larger than the limit of {self.max_body_bytes} bytes (LLMGATEWAY_MAX_BODY_BYTES)"


def origin_of(request: Request, surface: str) -> Origin:
    """The request's surface, client address, arrival time (monotonic), and virtual key."""
    state = request.scope.get("state", {})
    arrived = state.get("received_at") or time.monotonic()
    return Origin(surface, request.client.host if request.client else None, arrived, state.get("virtual_key"))
