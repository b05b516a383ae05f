"""A local server that speaks Ollama's native API: `/api/chat` as an NDJSON stream.

Each line is a JSON object: `{"model", "created_at", "message": {"role", "content"}, "done":
false}`; the last has `done: true`, `done_reason`, durations and the counts
(`prompt_eval_count`, `eval_count`). Tool calls come whole in a message's `tool_calls`, with
arguments as an object and no id. Errors are `{"error": "..."}`: the body of an HTTP error,
or a line in the middle of the stream.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.emulators.base import DROP, EmulatorState, Fault, mangled

PROMPT_EVAL_COUNT = 26
CREATED_AT = "2026-11-28T08:52:19.385406455Z"


def _line(data: dict[str, Any]) -> bytes:
    data = mangled(data)
    return b"" if data is DROP else orjson.dumps(data) + b"\n"


class OllamaEmulator(EmulatorState):
    def __init__(self) -> None:
        super().__init__()
        self.app = Starlette(routes=[Route("/api/chat", self.chat, methods=["POST"]),
                                     Route("/api/embed", self.embed, methods=["POST"])])  # fmt: skip

    async def chat(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.remember(request, body)
        fault = self.next_fault()
        if fault and fault.kind == "status":
            return Response(orjson.dumps({"error": fault.message}), status_code=fault.status,
                            media_type="application/json", headers=fault.headers)  # fmt: skip
        if body.get("stream") is False:  # /api/chat streams unless told not to
            return Response(orjson.dumps(self._whole(body)), media_type="application/json")
        return StreamingResponse(self.watched(self._stream(body, fault), fault), media_type="application/x-ndjson")

    def _whole(self, body: dict[str, Any]) -> dict[str, Any]:
        """The answer in one object, as /api/chat gives it with `"stream": false`."""
        message: dict[str, Any] = {"role": "assistant", "content": self.reply}
        if body.get("tools"):
            message = {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": body["tools"][0]["function"]["name"], "arguments": {"location": "Paris"}}}]}
        return {"model": body["model"], "created_at": CREATED_AT, "message": message, "done": True, "done_reason": "stop",
                "total_duration": 4883583458, "load_duration": 1334875, "prompt_eval_count": PROMPT_EVAL_COUNT,
                "prompt_eval_duration": 342546000, "eval_count": len(self.pieces()), "eval_duration": 4535599000}  # fmt: skip

    async def _stream(self, body: dict[str, Any], fault: Fault | None) -> AsyncIterator[bytes]:
        model = body["model"]

        def part(message: dict[str, Any]) -> bytes:
            return _line({"model": model, "created_at": CREATED_AT, "message": {"role": "assistant", **message}, "done": False})

        if fault and fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            await self.pause()
            yield part({"content": "", "tool_calls": [{"function": {"name": name, "arguments": {"location": "Paris"}}}]})
            produced, reason = 12, "stop"
        else:
            if self.thinking:
                yield part({"content": "", "thinking": self.thinking})
            pieces = self.pieces()
            limit = (body.get("options") or {}).get("num_predict")
            reason = "stop"
            if limit is not None and limit < len(pieces):
                pieces, reason = pieces[:limit], "length"
            for i, piece in enumerate(pieces):
                if fault and fault.kind == "midstream_error" and i == fault.after_chunks:
                    yield _line({"error": fault.message})
                    return
                await self.pause()
                yield part({"content": piece})
            produced = len(pieces)
        last = {"model": model, "created_at": CREATED_AT, "message": {"role": "assistant", "content": ""}, "done": True,
                "done_reason": reason, "total_duration": 4883583458, "load_duration": 1334875,
                "prompt_eval_count": PROMPT_EVAL_COUNT, "prompt_eval_duration": 342546000,
                "eval_count": produced, "eval_duration": 4535599000}  # fmt: skip
        if fault and fault.kind == "no_usage":
            del last["prompt_eval_count"], last["eval_count"]
        yield _line(last)

    async def embed(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.remember(request, body)
        inputs = [body["input"]] if isinstance(body["input"], str) else body["input"]
        vectors = [[round(len(t) / 100, 4), 1.0, float(i)] for i, t in enumerate(inputs)]
        tokens = sum(len(t.split()) for t in inputs)
        return Response(orjson.dumps({"model": body["model"], "embeddings": vectors, "total_duration": 14143917,
                                      "load_duration": 1019500, "prompt_eval_count": tokens}),
                        media_type="application/json")  # fmt: skip
