"""A local server that speaks OpenAI's Chat Completions wire format, byte for byte (and its
Responses API: openai_responses.py).

Streaming follows the API reference: `data: {json}\\n\\n` events; a first chunk whose delta
carries the role and an empty content; content chunks; a chunk with an empty delta and the
finish_reason; with `stream_options.include_usage`, every chunk has `"usage": null` and a last
chunk has `"choices": []` and the usage; then `data: [DONE]`. Errors are JSON bodies of the
shape `{"error": {"message", "type", "param", "code"}}` with the HTTP status.

Tests steer it through attributes: `faults` (a queue of what the next requests get instead
of an answer), `chunk_delay_s`, `reply`, `usage_extra`; `requests` keeps what it received.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.emulators.base import DEFAULT_REPLY, DROP, TOOL_ARGUMENT_PIECES, VALID_KEY, EmulatorState, Fault, mangled
from tests.emulators.openai_responses import ResponsesStream, encode
from tests.emulators.openai_responses import input_tokens as responses_input_tokens

__all__ = ["DEFAULT_REPLY", "VALID_KEY", "Fault", "OpenAIEmulator"]


# Fields whose type the API checks before anything else, as it reports them.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "max_tokens": (int,), "max_completion_tokens": (int,), "n": (int,), "seed": (int,),
    "temperature": (int, float), "top_p": (int, float), "frequency_penalty": (int, float),
    "presence_penalty": (int, float), "stream": (bool,), "model": (str,), "messages": (list,),
}  # fmt: skip


def _invalid_type(body: dict[str, Any]) -> str | None:
    """OpenAI's 400 for a field of the wrong type ("Invalid type for 'n': expected an integer...")."""
    for name, kinds in _FIELD_TYPES.items():
        value = body.get(name)
        if value is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
            expected = {int: "an integer", float: "a number", bool: "a boolean", str: "a string", list: "an array"}[kinds[-1]]
            return f"Invalid type for '{name}': expected {expected}, but got {type(value).__name__} instead."
    return None


class OpenAIEmulator(EmulatorState):
    def __init__(self) -> None:
        super().__init__()
        self.app = Starlette(routes=self.routes())

    def routes(self) -> list[Route]:
        return [
            Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
            Route("/v1/embeddings", self.embeddings, methods=["POST"]),
            Route("/v1/responses", self.responses, methods=["POST"]),
        ]

    def authorized(self, request: Request) -> bool:
        return request.headers.get("authorization", "") == f"Bearer {VALID_KEY}"

    def opening_chunks(self, base: dict[str, Any]) -> list[dict[str, Any]]:
        """Chunks a vendor sends before the role chunk (Azure: its prompt filter results)."""
        return []

    def served_model(self, requested: str) -> str:
        """OpenAI answers with the dated snapshot that served an alias."""
        return {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}.get(requested, requested)

    # -- the endpoint ---------------------------------------------------------------------
    async def chat_completions(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.remember(request, body)
        if not self.authorized(request):
            given = request.headers.get("authorization", request.headers.get("api-key", "")).removeprefix("Bearer ")
            return _error(
                401,
                f"Incorrect API key provided: {given}. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        invalid = _invalid_type(body)
        if invalid is not None:
            return _error(400, invalid, "invalid_request_error", "invalid_type")
        fault = self.next_fault()
        if fault and fault.kind == "status":
            error_type = "requests" if fault.status == 429 else "server_error"
            return _error(fault.status, fault.message, error_type, None, fault.headers)
        if not body.get("stream"):
            return Response(orjson.dumps(self._completion(body)), media_type="application/json")
        return StreamingResponse(self.watched(self._stream(body, fault), fault), media_type="text/event-stream; charset=utf-8")

    async def responses(self, request: Request) -> Response:
        """The Responses API (tests/emulators/openai_responses.py): streamed only when asked."""
        body = orjson.loads(await request.body())
        self.remember(request, body)
        if not self.authorized(request):
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        if not isinstance(body.get("input"), (str, list)) or "messages" in body:
            return _error(400, "Missing required parameter: 'input'.", "invalid_request_error", "missing_required_parameter")
        fault = self.next_fault()
        if fault and fault.kind == "status":
            return _error(fault.status, fault.message, "server_error", None, fault.headers)
        stream = ResponsesStream(body, self.served_model(body["model"]), self.pieces(), self.thinking, responses_input_tokens(body))
        if not body.get("stream"):
            final = None
            async for _, event in stream.events(lambda: asyncio.sleep(0)):
                final = event
            assert final is not None
            return Response(orjson.dumps(final["response"]), media_type="application/json")

        async def events() -> AsyncIterator[bytes]:
            async for kind, event in stream.events(self.pause):
                yield encode(kind, event)

        return StreamingResponse(events(), media_type="text/event-stream; charset=utf-8")

    async def embeddings(self, request: Request) -> Response:
        """Deterministic 4-dimensional vectors; usage counts the words of the inputs."""
        body = orjson.loads(await request.body())
        self.remember(request, body)
        if not self.authorized(request):
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        fault = self.next_fault()
        if fault and fault.kind == "status":
            return _error(fault.status, fault.message, "server_error", None, fault.headers)
        inputs = [body["input"]] if isinstance(body["input"], str) else body["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": [round(len(text) / 100, 4), 0.25, -0.5, float(i)]}
            for i, text in enumerate(inputs)
        ]
        tokens = sum(len(text.split()) for text in inputs)
        payload = {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return Response(orjson.dumps(payload), media_type="application/json")

    # -- the answer -----------------------------------------------------------------------
    def _usage(self, body: dict[str, Any], completion_tokens: int) -> dict[str, Any]:
        prompt_tokens = 7 + sum(len(str(m.get("content") or "").split()) for m in body.get("messages", []))
        cached = self.usage_extra.get("cached_tokens", 0)
        reasoning = self.usage_extra.get("reasoning_tokens", 0)
        completion = completion_tokens + reasoning
        return {
            "prompt_tokens": prompt_tokens + cached,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + cached + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        pieces = self.pieces()
        return {
            "id": "chatcmpl-emulated",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.served_model(body["model"]),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(pieces), "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self._usage(body, len(pieces)),
            "system_fingerprint": "fp_emulated",
        }

    async def _stream(self, body: dict[str, Any], fault: Fault | None) -> AsyncIterator[bytes]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": "chatcmpl-emulated",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.served_model(body["model"]),
            "system_fingerprint": "fp_emulated",
        }

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            payload = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
            if include_usage:
                payload["usage"] = None
            return _data(payload)

        for extra in self.opening_chunks(base):
            yield _data(extra)
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        if fault and fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
        if body.get("tools") and body.get("tool_choice") != "none":
            names = [t["function"]["name"] for t in body["tools"]]
            pieces = _parallel_tool_call_pieces(names) if len(names) > 1 else _tool_call_pieces(names[0])
            for piece in pieces:
                await self.pause()
                yield chunk({"tool_calls": [piece]})
            finish = "tool_calls"
        else:
            pieces = self.pieces()
            max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
            finish = "stop"
            if max_tokens is not None and max_tokens < len(pieces):
                pieces, finish = pieces[:max_tokens], "length"
            if self.thinking:  # as DeepSeek and vLLM stream it
                yield chunk({"content": None, "reasoning_content": self.thinking})
            for i, piece in enumerate(pieces):
                if fault and fault.kind == "midstream_error" and i == fault.after_chunks:
                    error = {"error": {"message": fault.message, "type": "server_error", "param": None, "code": None}}
                    yield b"data: " + orjson.dumps(error) + b"\n\n"
                    return
                if fault and fault.kind == "truncated" and i == fault.after_chunks:
                    return  # the stream just stops: no finish, no usage, no [DONE]
                await self.pause()
                yield chunk({"content": piece})
        yield chunk({}, finish)
        if include_usage and not (fault and fault.kind == "no_usage"):
            usage_chunk = {**base, "choices": [], "usage": self._usage(body, len(pieces))}
            yield _data(usage_chunk)
        yield b"data: [DONE]\n\n"



def _data(payload: dict[str, Any]) -> bytes:
    """One server-sent event of a chat.completion.chunk."""
    payload = mangled(payload)
    return b"" if payload is DROP else b"data: " + orjson.dumps(payload) + b"\n\n"


def _tool_call_pieces(name: str) -> list[dict[str, Any]]:
    arguments = TOOL_ARGUMENT_PIECES
    first = {"index": 0, "id": "call_emulated_1", "type": "function", "function": {"name": name, "arguments": ""}}
    return [first] + [{"index": 0, "function": {"arguments": a}} for a in arguments]


def _parallel_tool_call_pieces(names: list[str]) -> list[dict[str, Any]]:
    """Two calls at once, their fragments interleaved, as OpenAI streams parallel tool calls."""
    first, second = (_tool_call_pieces(name) for name in names[:2])
    for piece in second:
        piece["index"] = 1
        if "id" in piece:
            piece["id"] = "call_emulated_2"
    return [first[0], second[0]] + [p for pair in zip(first[1:], second[1:]) for p in pair]


def _error(status: int, message: str, error_type: str, code: str | None, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


class AzureOpenAIEmulator(OpenAIEmulator):
    """Azure OpenAI: deployment in the path, `api-version` in the query, the key in `api-key`,
    and a first chunk with `choices: []` and `prompt_filter_results`."""

    def routes(self) -> list[Route]:
        return [
            Route("/openai/deployments/{deployment}/chat/completions", self.chat_completions, methods=["POST"]),
            Route("/openai/deployments/{deployment}/embeddings", self.embeddings, methods=["POST"]),
        ]

    def authorized(self, request: Request) -> bool:
        return request.headers.get("api-key") == VALID_KEY and bool(request.query_params.get("api-version"))

    def served_model(self, requested: str) -> str:
        """Azure names the model behind the deployment, whatever the deployment is called."""
        return "gpt-4o-mini-2024-07-18"

    def opening_chunks(self, base: dict[str, Any]) -> list[dict[str, Any]]:
        filters = {"hate": {"filtered": False, "severity": "safe"}, "self_harm": {"filtered": False, "severity": "safe"}}
        return [{**base, "model": "", "choices": [],
                 "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filters}]}]  # fmt: skip


# For serving on its own: `uvicorn tests.emulators.openai:app` (the benchmark's fast upstream).
app = OpenAIEmulator().app
