"""Anthropic's Messages API: `POST /v1/messages` and `/v1/messages/count_tokens`, in front of
every provider.

An Anthropic client (its SDKs, Claude Code, LangChain's ChatAnthropic) sets its base URL to
the gateway and names a model as `provider/model`, an alias or a route; a bare Claude name
goes to `anthropic`. The request enters the same pipeline as every other surface (retries,
fallbacks, limits, the cache, the request log, surface `anthropic`). To an Anthropic target
the client's own body is sent (with the target's model), so what the gateway does not
translate (cache_control, thinking, metadata, documents) still reaches Anthropic, with the
betas its `anthropic-beta` header asks for among those the catalog allows (the header sent
upstream is made of the catalog's values only); other targets get the translation. Errors, before and during a stream, are in Anthropic's shape.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmgateway.api.answers import answer, send_as_written
from llmgateway.api.anthropic_wire import (
    MessageEvents,
    anthropic_error,
    chat_messages,
    chat_tool_choice,
    chat_tools,
    message_of,
)
from llmgateway.api.cache_control import cache_options
from llmgateway.api.engine import gateway_of
from llmgateway.api.intake import origin_of
from llmgateway.api.schemas import GatewayOptions, ModelName
from llmgateway.core.gateway import Gateway
from llmgateway.metrics.tokens import count_message_tokens, count_text_tokens

router = APIRouter(prefix="/v1", tags=["anthropic-compatible"])

PATH_PREFIX = "/v1/messages"


class AnthropicMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(pattern="^(user|assistant)$")
    content: str | list[dict[str, Any]]


class AnthropicTool(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=128)
    type: str | None = None
    description: str | None = None
    input_schema: dict[str, Any] | None = None


class CountTokensBody(GatewayOptions):
    """What `count_tokens` reads of a Messages request."""

    model_config = ConfigDict(extra="allow")

    model: ModelName = Field(description="provider/model, an alias, a route, or a bare Claude model name")
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    tools: list[AnthropicTool] | None = None
    tool_choice: dict[str, Any] | None = None

    def chat_messages(self) -> list[dict[str, Any]]:
        return chat_messages(self.system, [m.model_dump() for m in self.messages])


class MessagesBody(CountTokensBody):
    """Anthropic's Messages request; fields it does not translate reach Anthropic targets as sent."""

    max_tokens: int = Field(ge=1)
    stream: bool = False
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None

    def parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {"max_tokens": self.max_tokens}
        for name in ("temperature", "top_p", "top_k"):
            if getattr(self, name) is not None:
                params[name] = getattr(self, name)
        if self.stop_sequences:
            params["stop"] = self.stop_sequences
        return params

    def anthropic_body(self) -> dict[str, Any]:
        """The client's body as Anthropic reads it: without the gateway's own fields."""
        return self.model_dump(exclude=set(GatewayOptions.model_fields) | {"stream"}, exclude_none=True)


def target_name(gateway: Gateway, name: str) -> str:
    """A route, provider/model or alias as it is; a bare name the catalog does not know is
    Anthropic's (Claude Code names its models bare)."""
    if name in gateway.catalog.routes or gateway.catalog.resolve_model(name) is not None or "/" in name:
        return name
    return f"anthropic/{name}"


@router.post("/messages", summary="Anthropic-compatible messages")
async def create_message(body: MessagesBody, request: Request) -> Response:
    gateway = gateway_of(request)
    chat = body.chat(
        body.chat_messages(),
        parameters=body.parameters(),
        tools=chat_tools([t.model_dump(exclude_none=True) for t in body.tools or ()]),
        tool_choice=chat_tool_choice(body.tool_choice),
        response_format=None,
    )
    chat.cache = cache_options(body.cache, request.headers)
    chat_request = await gateway.build_named_request(target_name(gateway, body.model), chat, origin_of(request, "anthropic"))
    if not chat.session_id:  # a session's earlier turns are in the translated messages only
        betas = tuple(b.strip() for b in request.headers.get("anthropic-beta", "").split(",") if b.strip())
        send_as_written(chat_request, body.anthropic_body(), lambda target: target.provider.adapter == "anthropic", betas)
    return await answer(request, chat_request, message_of, MessageEvents() if body.stream else None)


@router.post("/messages/count_tokens", summary="Anthropic-compatible input token count (estimated)")
async def count_tokens(body: CountTokensBody, request: Request) -> Response:
    """The prompt's tokens by the target's shipped tokenizer, flagged as an estimate
    (`x-llmgateway-tokens-estimated: true`): no vendor is called."""
    gateway = gateway_of(request)
    provider_id, model = gateway.resolve_model(target_name(gateway, body.model))
    encoding = gateway.provider(provider_id).tokenizer_for(model)
    tokens = count_message_tokens(body.chat_messages(), encoding)
    if body.tools:
        tools = [t.model_dump(exclude_none=True) for t in body.tools]
        tokens += count_text_tokens(orjson.dumps(tools).decode(), encoding)
    return Response(orjson.dumps({"input_tokens": tokens}), media_type="application/json",
                    headers={"x-llmgateway-tokens-estimated": "true"})  # fmt: skip


class AnthropicErrorShape:
    """Every error answer under `/v1/messages` in Anthropic's shape, whichever layer refused
    (access, intake, validation, the pipeline): `{"type": "error", "error": {"type",
    "message", "code"}}` with Anthropic's error type for the status, and 400 for a request
    the gateway found invalid (Anthropic's status for it; the gateway's own is 422)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body = bytearray()

        async def reshaping_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message
                return
            if start is None:
                await send(message)
                return
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                await _send_reshaped(send, start, bytes(body))

        await self.app(scope, receive, reshaping_send)


async def _send_reshaped(send: Send, start: Message, body: bytes) -> None:
    status = start["status"]
    try:
        error = orjson.loads(body)["error"]
        reshaped = anthropic_error(status, error["message"], error.get("type"))
    except (orjson.JSONDecodeError, KeyError, TypeError):
        reshaped = anthropic_error(status, body.decode(errors="replace") or "error")
    payload = orjson.dumps(reshaped)
    headers = [(k, v) for k, v in start["headers"] if k not in (b"content-length", b"content-type")]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 400 if status == 422 else status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
