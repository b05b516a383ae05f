"""The engine API of LLMstudio: `/api/engine/...`, faithful to ../shared/spec/engine-api.md."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from llmgateway.api.call_headers import call_headers
from llmgateway.api.departures import client_left_response, unless_the_client_leaves
from llmgateway.api.intake import origin_of
from llmgateway.api.schemas import EngineChatBody
from llmgateway.api.sse import Chunk, OutputEvent, stream_response, wants_server_sent_events
from llmgateway.core.call import Call
from llmgateway.core.gateway import Gateway
from llmgateway.metrics.report import openai_usage
from llmgateway.vocabulary.events import TextDelta, ToolCallDelta
from llmgateway.vocabulary.requests import ChatRequest, Origin
from llmgateway.vocabulary.results import CallResult

router = APIRouter(prefix="/api/engine", tags=["engine"])


def gateway_of(request: Request) -> Gateway:
    return request.app.state.gateway


@router.post("/chat/{provider}", summary="Chat with a provider's model, streamed or not")
async def chat(provider: str, body: EngineChatBody, request: Request) -> Response:
    gateway = gateway_of(request)
    chat_request = await engine_request(gateway, provider, body, origin_of(request, "engine"))
    call = await gateway.start(chat_request)
    request.state.call = call  # for the access log
    if body.is_stream:
        json_chunks = not wants_server_sent_events(request.headers.get("accept"))
        return await stream_response(request, call, EngineChunks(encode_once=True), call_headers(call, chat_request), json_chunks=json_chunks)
    result = await unless_the_client_leaves(request, call, call.complete())
    if result is None:
        return client_left_response()
    return Response(orjson.dumps(engine_response(result)), media_type="application/json", headers=call_headers(call, chat_request))


async def engine_request(gateway: Gateway, provider: str, body: EngineChatBody, origin: Origin) -> ChatRequest:
    """The engine body as the gateway's request (also used by the in-process client)."""
    return await gateway.build_request(provider, body.model, body.to_chat(), origin)


@router.get("/providers", summary="The providers the gateway serves")
async def providers(request: Request, detail: bool = False) -> Any:
    gateway = gateway_of(request)
    ids = gateway.catalog.provider_ids()
    if not detail:
        return ids
    result = {}
    for provider_id in ids:
        spec = gateway.provider(provider_id)
        missing = gateway.missing_configuration(spec)
        result[provider_id] = {"name": spec.name, "ready": not missing, "missing": missing}
    return result


@router.get("/models", summary="The models of every provider, or of one")
async def models(request: Request, provider: str | None = Query(default=None)) -> Any:
    gateway = gateway_of(request)
    if provider is not None:
        spec = gateway.provider(provider)
        return {"name": spec.name, "models": list(spec.models)}
    return {
        pid: {"name": spec.name, "models": list(spec.models)}
        for pid, spec in ((pid, gateway.provider(pid)) for pid in gateway.catalog.provider_ids())
    }


@router.get("/parameters", summary="The tunable parameters of a provider (and model)")
async def parameters(request: Request, provider: str = Query(), model: str | None = Query(default=None)) -> Any:
    spec = gateway_of(request).provider(provider)
    return [p.public() for p in spec.parameters_for(model)]


def engine_response(result: CallResult) -> dict[str, Any]:
    """The reference's response object, every key present, plus cached/reasoning metrics.

    As the reference names them: `model` is the model the client asked for, `deployment` the
    model that served (as the vendor reports it, e.g. gpt-4o-mini-2024-07-18).
    """
    request = result.request
    return {
        "id": result.id,
        "choices": [
            {
                "finish_reason": result.finish_reason,
                "index": 0,
                "logprobs": None,
                "message": {
                    "content": result.text or (None if result.tool_calls else ""),
                    "role": "assistant",
                    "function_call": None,
                    "tool_calls": result.tool_calls,
                },
            }
        ],
        "created": int(result.timestamp),
        "model": request.model,
        "deployment": result.model,
        "object": "chat.completion",
        "service_tier": result.service_tier,
        "system_fingerprint": result.system_fingerprint,
        "usage": openai_usage(result.tokens),
        "session_id": request.session_id,
        "chat_input": request.chat_input,
        "chat_output": result.text,
        "chat_output_stream": "",
        "context": request.messages,
        "provider": request.provider.id,
        "timestamp": result.timestamp,
        "parameters": request.effective_parameters,
        "metrics": result.metrics,
        "attempts": result.attempts,  # what failed before the target that served
    }


class EngineChunks:
    """chat.completion.chunk objects with the reference's keys: each carries `chat_output_stream`
    (the text new in it) and the call's `chat_input`, `context`, `provider`, `model`,
    `deployment`, `parameters`, with `chat_output` and `metrics` null until the last chunk,
    which carries them and `usage`.

    The keys that are the same in every chunk are built once per call; with `encode_once`
    (the HTTP surface) they are JSON-encoded once too, so a long conversation is not encoded
    again for every chunk.
    """

    def __init__(self, *, encode_once: bool = False) -> None:
        self._encode_once = encode_once
        self._same: dict[str, Any] | None = None

    def _same_in_every_chunk(self, call: Call) -> dict[str, Any]:
        if self._same is None:
            request = call.request
            same = {
                "provider": request.provider.id,
                "model": request.model,
                "deployment": call.model,
                "service_tier": call.service_tier,
                "system_fingerprint": call.system_fingerprint,
                "session_id": request.session_id,
                "chat_input": request.chat_input,
                "chat_output": None,
                "context": request.messages,
                "timestamp": call.timestamp,
                "parameters": request.effective_parameters,
                "metrics": None,
            }
            if self._encode_once:
                same["context"] = orjson.Fragment(orjson.dumps(same["context"]))
                same["parameters"] = orjson.Fragment(orjson.dumps(same["parameters"]))
            self._same = same
        return self._same

    def _chunk(self, call: Call, delta: dict[str, Any], text: str, finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": call.id,
            "object": "chat.completion.chunk",
            "created": int(call.timestamp),
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            "chat_output_stream": text,
            **self._same_in_every_chunk(call),
        }

    def opening(self, call: Call) -> Chunk:
        return self._chunk(call, {"role": "assistant", "content": ""}, "")

    def delta(self, call: Call, event: OutputEvent) -> Chunk | list[Chunk]:
        if isinstance(event, TextDelta):
            return self._chunk(call, {"content": event.text}, event.text)
        if isinstance(event, ToolCallDelta):
            return self._chunk(call, {"tool_calls": [tool_call_fragment(event)]}, "")
        return []  # reasoning: not part of the reference's answer

    def closing(self, result: CallResult) -> list[Chunk]:
        final = engine_response(result)
        final.update(
            object="chat.completion.chunk",
            choices=[{"index": 0, "delta": {}, "logprobs": None, "finish_reason": result.finish_reason}],
        )
        return [final]


def tool_call_fragment(event: ToolCallDelta) -> dict[str, Any]:
    """A tool-call delta in OpenAI's chunk shape: id, type and name on the first fragment only."""
    fragment: dict[str, Any] = {"index": event.index, "function": {"arguments": event.arguments}}
    if event.id or event.name:
        fragment["id"] = event.id
        fragment["type"] = "function"
        fragment["function"]["name"] = event.name
    return fragment
