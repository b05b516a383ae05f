"""Access control: with `LLMGATEWAY_MASTER_KEY` set, every endpoint but /health asks for it.

The dashboard's static files are open too: the page itself asks for the key, then sends it.

The key is read from `Authorization: Bearer <key>` and compared in constant time. The OpenAI
SDKs send their `api_key` that way, so their users set the master key as their `api_key`.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from llmgateway.api.errors import error_response

OPEN_PATHS = frozenset({"/", "/health", "/health/live", "/health/ready", "/dashboard"})
OPEN_PREFIXES = ("/dashboard/",)


class MasterKeyMiddleware:
    def __init__(self, app: ASGIApp, master_key: str) -> None:
        self.app = app
        self._expected = f"Bearer {master_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
        if not hmac.compare_digest(given, self._expected):
            response = error_response(
                401,
                "unauthorized",
                "this gateway requires its access key: send Authorization: Bearer <LLMGATEWAY_MASTER_KEY>",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
