"""OpenAI's Responses API: `POST /v1/responses` and `GET /v1/responses/{id}`, in front of
every provider.

The request enters the same pipeline as every other surface (surface `responses` in the
request log). To a provider whose catalog entry has `responses_api` (OpenAI), the client's own
body is sent to its `/responses` (so what the gateway does not translate still arrives); other
targets, and a request that continues an earlier response, get the translation. A stored response (`store`, true by default) keeps its conversation, the
messages it was asked and its answer, in the request log's conversations, under the
response's id: `previous_response_id` continues it on any instance, and `GET` reads the
response back from the request log. `store: false` keeps no content: not the conversation,
not the prompt or answer in the request log's record, not the response cache.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from pydantic import ConfigDict, Field
from starlette.responses import Response

from llmgateway.api.answers import answer, send_as_written
from llmgateway.api.cache_control import cache_options
from llmgateway.api.engine import gateway_of
from llmgateway.api.intake import origin_of
from llmgateway.api.responses_wire import (
    ResponseEvents,
    ResponseShape,
    chat_messages,
    chat_tool_choice,
    chat_tools,
    response_format,
)
from llmgateway.api.schemas import GatewayOptions, ModelName
from llmgateway.api.tracking import request_store
from llmgateway.errors import NotFoundError
from llmgateway.tracking.store import LogFilter
from llmgateway.vocabulary.requests import CacheOptions
from llmgateway.vocabulary.results import TokenCounts

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

# Request fields a response repeats, as OpenAI's does, with their defaults.
_ECHOED = {"instructions": None, "max_output_tokens": None, "metadata": {}, "parallel_tool_calls": True,
           "previous_response_id": None, "reasoning": {"effort": None, "summary": None}, "store": True,
           "temperature": None, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
           "top_p": None, "truncation": "disabled", "user": None}  # fmt: skip


class ResponseNotFoundError(NotFoundError):
    error_type = "response_not_found"


class ResponsesBody(GatewayOptions):
    """OpenAI's Responses request."""

    model_config = ConfigDict(extra="allow")

    model: ModelName = Field(description="provider/model, an alias or a route")
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = None
    top_p: float | None = None
    stream: bool = False
    store: bool = True
    previous_response_id: str | None = Field(default=None, max_length=64)
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None

    def parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {"max_tokens": self.max_output_tokens, "temperature": self.temperature,
                                  "top_p": self.top_p}  # fmt: skip
        if self.reasoning and self.reasoning.get("effort"):
            params["reasoning_effort"] = self.reasoning["effort"]
        return {k: v for k, v in params.items() if v is not None}

    def openai_body(self) -> dict[str, Any]:
        """The client's body as OpenAI reads it: without the gateway's own fields."""
        return self.model_dump(exclude=set(GatewayOptions.model_fields) | {"stream", "store", "previous_response_id"},
                               exclude_none=True)  # fmt: skip

    def echo(self) -> dict[str, Any]:
        fields = self.model_dump(include=set(_ECHOED), exclude_none=True)
        return {**_ECHOED, **fields}


@router.post("/responses", summary="OpenAI-compatible responses")
async def create_response(body: ResponsesBody, request: Request) -> Response:
    gateway = gateway_of(request)
    history: list[dict[str, Any]] = []
    if body.previous_response_id:
        history = [m for m in await gateway.recorder.conversation(body.previous_response_id) if m["role"] != "system"]
        if not history:  # instructions are the new request's own, as OpenAI carries them
            raise ResponseNotFoundError(f"previous_response_id: no stored response {body.previous_response_id!r}")
    response_id = "resp_" + uuid.uuid4().hex
    chat = body.chat(
        [*history, *chat_messages(body.instructions, body.input)],
        parameters=body.parameters(),
        tools=chat_tools(body.tools),
        tool_choice=chat_tool_choice(body.tool_choice),
        response_format=response_format(body.text),
    )
    chat.cache = cache_options(body.cache, request.headers)
    if body.store:
        chat.session_id = response_id  # keeps the conversation for previous_response_id, on any instance
    else:
        chat.keep_content = False
        chat.cache = CacheOptions(no_store=True, no_cache=bool(chat.cache and chat.cache.no_cache))
    chat_request = await gateway.build_named_request(body.model, chat, origin_of(request, "responses"))
    if not history:  # with earlier turns, the gateway's translation carries them
        send_as_written(chat_request, body.openai_body(), lambda target: bool(target.vendor_options.get("responses_api")))
    shape = ResponseShape(response_id, body.echo())
    return await answer(request, chat_request, shape, ResponseEvents(shape) if body.stream else None)


@router.get("/responses/{response_id}", summary="A stored response, from the request log")
async def get_response(response_id: str, request: Request) -> Response:
    store = await request_store(request)
    is_ours = response_id.startswith("resp_")
    rows = await store.logs(LogFilter(session_id=response_id, status="success"), limit=1) if is_ours else []
    if not rows:
        raise ResponseNotFoundError(f"no stored response {response_id!r}")
    row = rows[0]
    parameters = row["parameters"] or {}
    echo = {**_ECHOED, "max_output_tokens": parameters.get("max_tokens"), "temperature": parameters.get("temperature"),
            "top_p": parameters.get("top_p")}  # fmt: skip
    tokens = TokenCounts(row["input_tokens"] or 0, row["output_tokens"] or 0, row["cached_tokens"] or 0,
                         row["reasoning_tokens"] or 0)  # fmt: skip
    body = ResponseShape(response_id, echo).finished(row["created_at"], row["model_reported"] or row["model_requested"],
                                                     row["chat_output"], row["tool_calls"], row["finish_reason"], tokens,
                                                     row["metrics"])  # fmt: skip
    body["provider"] = row["provider"]
    return Response(orjson.dumps(body), media_type="application/json")
