"""Access control: with `LLMGATEWAY_MASTER_KEY` set, every endpoint but the health checks asks
for a key.

The master key opens everything; a virtual key (`lgw-...`, see core/governance.py) opens the
APIs but not `/api/admin`. Keys are read from `Authorization: Bearer <key>` (what the OpenAI
SDKs send for their `api_key`) or `x-api-key` (what Anthropic's send). The master key is
compared in constant time; a virtual key is looked up by its keyed hash. A refused request is
answered 401 (403 for a virtual key on the admin API) and recorded.

The dashboard's static files are open too: the page itself asks for the key, then sends it.
"""

from __future__ import annotations

import hmac
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from llmgateway.api.errors import error_response
from llmgateway.errors import GatewayError
from llmgateway.vocabulary.requests import Origin

OPEN_PATHS = frozenset({"/", "/health", "/health/live", "/health/ready", "/dashboard"})
OPEN_PREFIXES = ("/dashboard/",)
ADMIN_PREFIX = "/api/admin"


class AdminOnlyError(GatewayError):
    status_code = 403
    error_type = "admin_only"


class AccessMiddleware:
    def __init__(self, app: ASGIApp, master_key: str) -> None:
        self.app = app
        self._master = master_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        token = _presented_key(scope)
        if hmac.compare_digest(token, self._master):
            await self.app(scope, receive, send)
            return
        governance = getattr(scope["app"].state, "gateway", None)
        governance = governance.governance if governance is not None else None
        if governance is None or not token.startswith(b"lgw-"):
            response = error_response(
                401,
                "unauthorized",
                "this gateway requires a key: send Authorization: Bearer <LLMGATEWAY_MASTER_KEY or a virtual key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        try:
            key = await governance.authenticate(token.decode("ascii", "replace"))
            if path.startswith(ADMIN_PREFIX):
                raise AdminOnlyError(f"key {key.name!r} is not the master key: the admin API needs LLMGATEWAY_MASTER_KEY")
        except GatewayError as exc:
            _record_refusal(scope, exc)
            response = error_response(exc.status_code, exc.error_type, exc.message, headers=exc.headers or None)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["virtual_key"] = key
        await self.app(scope, receive, send)


def _presented_key(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"authorization" and value.startswith(b"Bearer "):
            return value[7:].strip()
        if name == b"x-api-key":
            return value.strip()
    return b""


def _record_refusal(scope: Scope, error: GatewayError) -> None:
    gateway = scope["app"].state.gateway
    client = scope.get("client")
    received_at = scope.get("state", {}).get("received_at") or time.monotonic()
    gateway.record_refusal(error, Origin("access", client[0] if client else None, received_at), "unknown", "unknown", None)
