"""A local server that speaks Anthropic's Messages API wire format.

Streaming follows the API reference: named SSE events (`event: X` then `data: {json}`):
message_start (with the input usage), content_block_start, ping, content_block_delta
(text_delta or input_json_delta), content_block_stop, message_delta (stop_reason and the
output usage), message_stop. An error during the stream is `event: error` with
`{"type": "error", "error": {"type": "overloaded_error", ...}}`; HTTP errors carry the same
body with their status.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.emulators.base import DROP, TOOL_ARGUMENT_PIECES, VALID_KEY, EmulatorState, Fault, mangled

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 429: "rate_limit_error", 529: "overloaded_error"}  # fmt: skip


def _event(name: str, data: dict[str, Any]) -> bytes:
    data = mangled(data)
    return b"" if data is DROP else b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
            "request_id": "req_emulated"}  # fmt: skip


# The versions the API accepts in `anthropic-version`; the newest no longer takes sampling
# parameters (temperature, top_p, top_k), as the SDK's documentation says.
API_VERSIONS = {"2023-01-01", "2023-06-01", "2026-10-21"}


class AnthropicEmulator(EmulatorState):
    def __init__(self) -> None:
        super().__init__()
        self.app = Starlette(routes=[Route("/v1/messages", self.messages, methods=["POST"])])

    async def messages(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.remember(request, body)
        if request.headers.get("authorization") != f"Bearer {VALID_KEY}":
            return Response(orjson.dumps(_error_body(401, "invalid x-api-key")), status_code=401, media_type="application/json")
        if request.headers.get("anthropic-version") not in API_VERSIONS:
            message = f"anthropic-version: invalid version {request.headers.get('anthropic-version')!r}"
            return Response(orjson.dumps(_error_body(400, message)), status_code=400, media_type="application/json")
        if "max_tokens" not in body:
            return Response(orjson.dumps(_error_body(400, "max_tokens: Field required")), status_code=400, media_type="application/json")
        sampling = sorted({"temperature", "top_p", "top_k"} & set(body))
        if sampling and request.headers["anthropic-version"] >= "2026-10-21":
            message = f"{sampling[0]}: Extra inputs are not permitted under anthropic-version 2026-10-21"
            return Response(orjson.dumps(_error_body(400, message)), status_code=400, media_type="application/json")
        output_config = body.get("output_config", {})
        output_format = output_config.get("format") if isinstance(output_config, dict) else output_config
        if output_format is not None and (not isinstance(output_format, dict) or output_format.get("type") != "json_schema"
                                          or not isinstance(output_format.get("schema"), dict)):  # fmt: skip
            message = "output_config.format: Input tag does not match the expected tag 'json_schema', or schema is not an object"
            return Response(orjson.dumps(_error_body(400, message)), status_code=400, media_type="application/json")
        fault = self.next_fault()
        if fault and fault.kind == "status":
            return Response(orjson.dumps(_error_body(fault.status, fault.message)), status_code=fault.status,
                            media_type="application/json", headers=fault.headers)  # fmt: skip
        if not body.get("stream"):  # the Messages API streams only when asked
            return Response(orjson.dumps(self._message(body)), media_type="application/json")
        return StreamingResponse(self.watched(self._stream(body, fault), fault), media_type="text/event-stream; charset=utf-8")

    def _usage(self, output_tokens: int, thinking_tokens: int = 0) -> dict[str, Any]:
        """Usage as the API reports it: output includes thinking, broken out since 2.14's
        `output_tokens_details` (here, a token per word of the thinking text)."""
        usage = {"input_tokens": 25, "cache_creation_input_tokens": self.usage_extra.get("cache_write_tokens", 0),
                 "cache_read_input_tokens": self.usage_extra.get("cached_tokens", 0),
                 "output_tokens": output_tokens + thinking_tokens}  # fmt: skip
        if thinking_tokens:
            usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
        return usage

    @property
    def _thinking_tokens(self) -> int:
        return len(self.thinking.split()) if self.thinking else 0

    def _message(self, body: dict[str, Any]) -> dict[str, Any]:
        """The whole Message, as the API answers a request without `stream`."""
        if body.get("tools") and (body.get("tool_choice") or {}).get("type") != "none":
            content = [{"type": "tool_use", "id": "toolu_emulated", "name": body["tools"][0]["name"],
                        "input": {"location": "Paris"}}]  # fmt: skip
            stop_reason, output_tokens = "tool_use", 12
        else:
            pieces = self.pieces()
            stop_reason = "end_turn"
            if body["max_tokens"] < len(pieces):
                pieces, stop_reason = pieces[: body["max_tokens"]], "max_tokens"
            content = [{"type": "text", "text": "".join(pieces)}]
            output_tokens = len(pieces)
        return {"id": "msg_emulated", "type": "message", "role": "assistant", "content": content, "model": body["model"],
                "stop_reason": stop_reason, "stop_sequence": None, "usage": self._usage(output_tokens, self._thinking_tokens)}  # fmt: skip

    async def _stream(self, body: dict[str, Any], fault: Fault | None) -> AsyncIterator[bytes]:
        usage = self._usage(1)
        message = {"id": "msg_emulated", "type": "message", "role": "assistant", "content": [], "model": body["model"],
                   "stop_reason": None, "stop_sequence": None, "usage": usage}  # fmt: skip
        yield _event("message_start", {"type": "message_start", "message": message})
        if fault and fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
        yield _event("ping", {"type": "ping"})
        if body.get("tools") and (body.get("tool_choice") or {}).get("type") != "none":
            tool = body["tools"][0]["name"]
            block = {"type": "tool_use", "id": "toolu_emulated_1", "name": tool, "input": {}}
            yield _event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
            for piece in TOOL_ARGUMENT_PIECES:
                await self.pause()
                delta = {"type": "input_json_delta", "partial_json": piece}
                yield _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            yield _event("content_block_stop", {"type": "content_block_stop", "index": 0})
            stop_reason, output_tokens = "tool_use", 12
        else:
            index = 0
            if self.thinking:
                yield _event("content_block_start", {"type": "content_block_start", "index": 0,
                                                     "content_block": {"type": "thinking", "thinking": ""}})  # fmt: skip
                delta = {"type": "thinking_delta", "thinking": self.thinking}
                yield _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
                delta = {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pk"}
                yield _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
                yield _event("content_block_stop", {"type": "content_block_stop", "index": 0})
                index = 1
            yield _event("content_block_start", {"type": "content_block_start", "index": index,
                                                 "content_block": {"type": "text", "text": ""}})  # fmt: skip
            pieces = self.pieces()
            stop_reason = "end_turn"
            if body["max_tokens"] < len(pieces):
                pieces, stop_reason = pieces[: body["max_tokens"]], "max_tokens"
            for i, piece in enumerate(pieces):
                if fault and fault.kind == "midstream_error" and i == fault.after_chunks:
                    yield _event("error", {"type": "error", "error": {"type": "overloaded_error", "message": fault.message}})
                    return
                await self.pause()
                delta = {"type": "text_delta", "text": piece}
                yield _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            yield _event("content_block_stop", {"type": "content_block_stop", "index": index})
            output_tokens = len(pieces)
        # message_delta's usage is cumulative and, as the API sends it now, repeats the input counts
        yield _event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                       "usage": self._usage(output_tokens, self._thinking_tokens)})  # fmt: skip
        yield _event("message_stop", {"type": "message_stop"})
