"""The floor: the least CPU a request can cost on the gateway's own stack.

A bare ASGI app on uvicorn (httptools, uvloop) that forwards the request body to the upstream
with one pooled aiohttp session and passes the answer back, streamed or not. No framework,
no validation, no vendor SDK, no metrics, no request log. What the gateway spends above this
is its own work; what this spends is what any gateway on this stack pays.

Run it in the peer harness beside the gateway (see bench/README.md, "The floor").
"""

from __future__ import annotations

import argparse
import os
from typing import Awaitable, Callable

import aiohttp
import uvicorn

UPSTREAM = os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:18000/v1").rstrip("/") + "/chat/completions"
_session: aiohttp.ClientSession | None = None


async def app(scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]) -> None:
    global _session
    if scope["type"] == "lifespan":
        await receive()  # lifespan.startup
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        if _session is not None:
            await _session.close()
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/health":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if _session is None:
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), cookie_jar=aiohttp.DummyCookieJar())
    async with _session.post(UPSTREAM, data=body, headers={"content-type": "application/json"}) as upstream:
        content_type = upstream.headers.get("content-type", "application/json").encode()
        await send({"type": "http.response.start", "status": upstream.status, "headers": [(b"content-type", content_type)]})
        if content_type.startswith(b"text/event-stream"):
            async for chunk in upstream.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.body", "body": await upstream.read()})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18100)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, http="httptools", loop="uvloop", access_log=False, log_level="warning")
