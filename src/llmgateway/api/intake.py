"""The first thing every request meets: its arrival time, and the body size limit.

`received_at` (monotonic) is where every latency metric starts. The body limit is checked on
Content-Length before anything is read, and counted while reading for chunked uploads.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmgateway.api.errors import error_response
from llmgateway.core.request import Origin


class RequestIntakeMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["received_at"] = time.monotonic()
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

        async def counting_receive() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request" and not rejected:
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer 413 here and tell the app the client left: whatever it then
                    # tries to send is dropped by guarded_send.
                    rejected = True
                    await error_response(413, "payload_too_large", self._message())(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)

    def _message(self) -> str:
        return f"the request body is larger than the limit of {self.max_body_bytes} bytes (LLMGATEWAY_MAX_BODY_BYTES)"


def origin_of(request: Request, surface: str) -> Origin:
    """The request's surface, client address, and arrival time (monotonic)."""
    arrived = request.scope.get("state", {}).get("received_at") or time.monotonic()
    return Origin(surface, request.client.host if request.client else None, arrived)
