"""Structured access logs: one JSON line per HTTP request, on the `llmgateway.access` logger.

A chat request's line also carries its call: id, provider, model, outcome, tokens, cost and
timings. Message contents are left out unless LLMGATEWAY_ACCESS_LOG_CONTENTS=true; keys are
never there (the call carries only a fingerprint of one, and this logs not even that).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("llmgateway.access")


def configure_access_logger() -> None:
    """The access logger writes bare JSON lines to stderr, once per process."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, include_contents: bool = False) -> None:
        self.app = app
        self.include_contents = include_contents
        self.pid = os.getpid()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 0

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            line: dict[str, Any] = {
                "ts": round(time.time(), 3),
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.monotonic() - started) * 1000, 2),
                "client": scope["client"][0] if scope.get("client") else None,
                "pid": self.pid,  # which worker served it, with --workers > 1
            }
            call = scope.get("state", {}).get("call")
            if call is not None and call.finished:
                line.update(self._call_fields(call))
            logger.info(orjson.dumps(line).decode())

    def _call_fields(self, call: Any) -> dict[str, Any]:
        result = call.result
        m = result.metrics
        fields = {
            "request_id": result.id,
            "provider": result.request.provider.id,
            "model": result.model,
            "call_status": result.status,
            "input_tokens": m["input_tokens"],
            "output_tokens": m["output_tokens"],
            "cost_usd": m["cost_usd"],
            "latency_s": round(m["latency_s"], 4),
            "time_to_first_token_s": m["time_to_first_token_s"],
            "attempts": len(result.attempts),
        }
        if result.error is not None:
            fields["error_type"] = result.error.error_type
        if self.include_contents:
            fields["chat_input"] = result.request.chat_input
            fields["chat_output"] = result.text
        return fields
