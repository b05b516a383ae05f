"""The OpenAI-compatible API: `/v1/chat/completions` and `/v1/models`, in OpenAI's wire format.

An application that speaks OpenAI's API (its SDK, LangChain, ...) points `base_url` at the
gateway and names models `provider/model` or by a catalog alias. The same pipeline, metrics
and request log as the engine API stand behind it. The gateway's metrics ride along without
breaking strict clients: as `x-llmgateway-*` response headers, and as an extra `metrics`
field in the body and in the final stream chunk.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.responses import Response

from llmgateway.api.answers import answer, metric_headers
from llmgateway.api.cache_control import cache_options
from llmgateway.api.engine import gateway_of, tool_call_fragment
from llmgateway.api.intake import origin_of
from llmgateway.api.schemas import GatewayOptions, Message, ModelName, ResponseFormat, Tool, ToolChoiceFunction
from llmgateway.api.sse import Chunk, OutputEvent
from llmgateway.core.call import Call
from llmgateway.metrics.report import openai_usage
from llmgateway.vocabulary.events import TextDelta, ToolCallDelta
from llmgateway.vocabulary.results import CallResult

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

# Body fields that are not sampling parameters: OpenAI's others, and the gateway's options.
_NOT_PARAMETERS = frozenset(GatewayOptions.model_fields) | {
    "model", "messages", "stream", "stream_options", "tools", "tool_choice", "response_format", "n", "user",
    "parallel_tool_calls", "metadata", "store", "api_key",
}  # fmt: skip


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionBody(GatewayOptions):
    """OpenAI's chat completion request; other sampling fields pass through to the vendor."""

    model_config = ConfigDict(extra="allow")

    model: ModelName = Field(description="provider/model, or a catalog alias")
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | ToolChoiceFunction | None = None
    response_format: ResponseFormat | None = None
    n: int | None = Field(default=None, ge=1, le=1, description="one choice per request")
    max_completion_tokens: int | None = Field(default=None, ge=1)
    api_key: SecretStr | None = Field(
        default=None, description="A provider key, taken as the engine API's `api_key` (LLMGATEWAY_ALLOW_CLIENT_KEYS)."
    )

    def parameters(self) -> dict[str, Any]:
        """The sampling fields: the body's undeclared ones as sent, and max_completion_tokens
        (the gateway's name for it is max_tokens). Read from the extras, not a dump of the
        whole body, which would copy every message again."""
        extra = self.model_extra or {}
        params = {k: v for k, v in extra.items() if v is not None and k not in _NOT_PARAMETERS}
        if self.max_completion_tokens is not None:
            params["max_tokens"] = self.max_completion_tokens
        return params


@router.post("/chat/completions", summary="OpenAI-compatible chat completions")
async def chat_completions(body: ChatCompletionBody, request: Request) -> Response:
    gateway = gateway_of(request)
    origin = origin_of(request, "openai")
    chat = body.chat(
        [m.model_dump(exclude_none=True) for m in body.messages],
        parameters=body.parameters(),
        tools=body.tools,
        tool_choice=body.tool_choice,
        response_format=body.response_format,
        api_key=body.api_key,
    )
    chat.cache = cache_options(body.cache, request.headers)
    chat_request = await gateway.build_named_request(body.model, chat, origin)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return await answer(request, chat_request, completion, CompletionChunks(include_usage) if body.stream else None)


class EmbeddingsBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: ModelName = Field(description="provider/model, or a catalog alias")
    input: str | list[str] = Field(description="a text, or a list of texts")
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(default=None, ge=1)

    def inputs(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else self.input


@router.post("/embeddings", summary="OpenAI-compatible embeddings")
async def embeddings(body: EmbeddingsBody, request: Request) -> Response:
    gateway = gateway_of(request)
    provider, model = gateway.resolve_model(body.model)
    options = body.model_dump(include={"encoding_format", "dimensions"}, exclude_none=True)
    outcome = await gateway.embed(
        provider,
        model=model,
        inputs=body.inputs(),
        options=options,
        origin=origin_of(request, "openai"),
    )
    payload = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(outcome.vectors)],
        "model": outcome.model,
        "usage": {"prompt_tokens": outcome.tokens.input_tokens, "total_tokens": outcome.tokens.input_tokens},
        "provider": provider,
        "metrics": outcome.metrics,
    }
    headers = {"x-llmgateway-request-id": outcome.id, "x-llmgateway-provider": provider}
    headers.update(metric_headers(outcome.metrics))
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)


@router.get("/models", summary="The models, as provider/model ids, and the catalog's aliases")
async def list_models(request: Request) -> dict[str, Any]:
    catalog = gateway_of(request).catalog
    data = [
        {"id": f"{pid}/{model}", "object": "model", "created": 0, "owned_by": pid}
        for pid in catalog.provider_ids()
        for model in catalog.providers[pid].models
    ]
    data += [{"id": alias, "object": "model", "created": 0, "owned_by": target.split("/", 1)[0]}
             for alias, target in catalog.model_aliases.items()]  # fmt: skip
    return {"object": "list", "data": data}


def completion_id(call_id: str) -> str:
    return "chatcmpl-" + call_id.replace("-", "")


def completion(result: CallResult) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": result.text or None, "refusal": None}
    if result.tool_calls:
        message["tool_calls"] = result.tool_calls
    elif message["content"] is None:
        message["content"] = ""
    return {
        "id": completion_id(result.id),
        "object": "chat.completion",
        "created": int(result.timestamp),
        "model": result.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": result.finish_reason}],
        "usage": openai_usage(result.tokens),
        "system_fingerprint": result.system_fingerprint,
        "provider": result.request.provider.id,
        "metrics": result.metrics,
        "attempts": result.attempts,
    }


class CompletionChunks:
    """chat.completion.chunk events as OpenAI sends them; the last one also carries `metrics`."""

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage

    @staticmethod
    def _chunk(call_id: str, created: float, model: str, choices: list[dict[str, Any]], fingerprint: str | None = None) -> Chunk:
        return {
            "id": completion_id(call_id),
            "object": "chat.completion.chunk",
            "created": int(created),
            "model": model,
            "system_fingerprint": fingerprint,
            "choices": choices,
        }

    def _delta(self, call: Call, delta: dict[str, Any]) -> Chunk:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        return self._chunk(call.id, call.timestamp, call.model, [choice])

    def opening(self, call: Call) -> Chunk:
        return self._delta(call, {"role": "assistant", "content": ""})

    def delta(self, call: Call, event: OutputEvent) -> Chunk | list[Chunk]:
        if isinstance(event, TextDelta):
            return self._delta(call, {"content": event.text})
        if isinstance(event, ToolCallDelta):
            return self._delta(call, {"tool_calls": [tool_call_fragment(event)]})
        return []  # reasoning: Chat Completions answers carry none

    def closing(self, result: CallResult) -> list[Chunk]:
        """The finish chunk; with include_usage, then the usage chunk (`choices: []`)."""
        choice = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": result.finish_reason}
        finish = self._chunk(result.id, result.timestamp, result.model, [choice], result.system_fingerprint)
        if not self.include_usage:
            finish["metrics"] = result.metrics
            return [finish]
        usage = self._chunk(result.id, result.timestamp, result.model, [], result.system_fingerprint)
        usage["usage"] = openai_usage(result.tokens)
        usage["metrics"] = result.metrics
        return [finish, usage]
