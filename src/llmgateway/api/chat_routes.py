"""The chat routes of the engine API and `/v1`, served without FastAPI's router and handler.

FastAPI's routing, exception middleware and request handler (dependency solving, then the
body read and validated) were 15-20% of a streamed request's CPU (bench/profile.md). The
two chat routes are served here instead, inside the gateway's own middlewares (access log,
intake, access control), with their bodies read, decoded and refused exactly as FastAPI
does it, and every error answered by the same handlers (api/errors.py). FastAPI keeps the
routes too: they describe them in the OpenAPI schema and /docs.
"""

from __future__ import annotations

import email.message
import json
import re
from functools import lru_cache
from typing import Any, Awaitable, Callable

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from llmgateway.api.errors import answer_to
from llmgateway.errors import GatewayError

# A chat route: what its path must match (its named groups are the path parameters), the
# body's model, and the endpoint (called with `body`, `request` and the path parameters).
Endpoint = Callable[..., Awaitable[Response]]
ChatRoute = tuple[re.Pattern[str], type[BaseModel], Endpoint]


class ChatRoutes:
    """Serves `POST` to the chat routes; every other request goes on to the application."""

    def __init__(self, app: ASGIApp, routes: list[ChatRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            for pattern, body_model, endpoint in self.routes:
                matched = pattern.fullmatch(scope["path"])
                if matched is not None:
                    scope["path_params"] = matched.groupdict()  # as the router sets them
                    await self._serve(scope, receive, send, body_model, endpoint)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _serve(scope: Scope, receive: Receive, send: Send, body_model: type[BaseModel], endpoint: Endpoint) -> None:
        request = Request(scope, receive, send)
        try:
            body = await _validated_body(request, body_model)
            response = await endpoint(body=body, request=request, **scope["path_params"])
        except (GatewayError, RequestValidationError, HTTPException) as exc:  # what FastAPI's handlers answer
            response = await answer_to(request, exc)
        await response(scope, receive, send)


async def _validated_body(request: Request, body_model: type[BaseModel]) -> BaseModel:
    """The body as the route's model, or FastAPI's refusal of it. `from_attributes`, as FastAPI
    validates a body: one that is not an object is refused in its words."""
    try:
        return body_model.model_validate(await _decoded_body(request), from_attributes=True)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc


async def _decoded_body(request: Request) -> Any:
    """The body as FastAPI decodes a JSON body: JSON when its content type says so, the bytes
    otherwise (which the model then refuses); an empty body is a missing one."""
    raw = await request.body()
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    content_type = request.headers.get("content-type")
    if not content_type or not _is_json(content_type):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}, "ctx": {"error": exc.msg}}
        raise RequestValidationError([error]) from exc
    except Exception as exc:  # nested past what the parser takes, undecodable bytes
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc


@lru_cache(maxsize=64)  # a handful of distinct content types; parsing one costs ~1.6 us a request
def _is_json(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))
