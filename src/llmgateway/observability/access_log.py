"""Structured access logs: one JSON line per HTTP request, on stderr.

A chat request's line also carries its call: id, provider, model, outcome, tokens, cost and
timings. Message contents are left out unless LLMGATEWAY_ACCESS_LOG_CONTENTS=true; keys are
never there (the call carries only a fingerprint of one, and this logs not even that).
"""

from __future__ import annotations

import asyncio
import os
import select
import sys
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class AccessLines:
    """The lines of one turn of the event loop, written to stderr together at its end.

    Through `logging`, each line was a record, a handler's lock and a `write()` of its own:
    2-5% of a request's CPU in alternating rounds (bench/profile.md). A line now waits for the
    rest of its turn at most. The lines of a turn go out in writes of whole lines of at most
    `PIPE_BUF` bytes each, so that workers sharing one pipe (a container's stderr) never split
    each other's."""

    def __init__(self) -> None:
        self._held: list[bytes] = []

    def add(self, line: dict[str, Any]) -> None:
        if not self._held:
            asyncio.get_running_loop().call_soon(self.flush)
        self._held.append(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))

    def flush(self) -> None:
        held, self._held = self._held, []
        start = size = 0
        for end, line in enumerate(held):
            if size and size + len(line) > select.PIPE_BUF:
                _write_stderr(held[start:end])
                start, size = end, 0
            size += len(line)
        _write_stderr(held[start:])


def _write_stderr(lines: list[bytes]) -> None:
    try:
        sys.stderr.write(b"".join(lines).decode())
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed or gone: there is nowhere to say so
        pass


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, include_contents: bool = False) -> None:
        self.app = app
        self.include_contents = include_contents
        self.pid = os.getpid()
        self.lines = AccessLines()

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
            self.lines.add(line)

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
