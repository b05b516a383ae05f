"""The first thing every request meets: its arrival time, and the body size limit.

`received_at` (monotonic) is where every latency metric starts. The body limit is checked on
Content-Length before anything is read, and counted while reading for chunked uploads.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmgateway.api.errors import error_response
from llmgateway.core.errors import PayloadTooLargeError


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

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLargeError(self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return f"the request body is larger than the limit of {self.max_body_bytes} bytes (LLMGATEWAY_MAX_BODY_BYTES)"


def received_at(scope: Scope) -> float:
    """When the request arrived, by the monotonic clock."""
    return scope.get("state", {}).get("received_at") or time.monotonic()
