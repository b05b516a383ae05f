"""A local server that speaks the Gemini API's wire format (Developer API and Vertex AI paths).

`:streamGenerateContent?alt=sse` answers with SSE events framed by CRLF (`data: {json}\\r\\n\\r\\n`)
and no `[DONE]`: the stream just ends. Every chunk carries the usage so far
(`usageMetadata`, cumulative); the last has `finishReason`. A function call comes whole, with
finishReason STOP and no id. Errors are `{"error": {"code", "message", "status"}}`, as the
HTTP body or as an event in the middle of the stream.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator
from urllib.parse import parse_qs

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.emulators.base import DROP, VALID_KEY, EmulatorState, Fault, mangled

_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}  # fmt: skip
PROMPT_TOKENS = 9


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": _STATUS_NAMES.get(status, "UNKNOWN")}}


def _event(data: dict[str, Any]) -> bytes:
    data = mangled(data)
    return b"" if data is DROP else b"data: " + orjson.dumps(data) + b"\r\n\r\n"


class GeminiEmulator(EmulatorState):
    def __init__(self) -> None:
        super().__init__()
        self.access_token: str | None = None  # Vertex AI: the token /token issued, which calls must bear
        self.api_key = VALID_KEY  # the Developer API key it accepts (Google's are AIza...; tests may set one)
        self.app = Starlette(
            routes=[
                *(Route(f"/{v}/models/{{model}}:streamGenerateContent", self.stream_generate, methods=["POST"])
                  for v in ("v1", "v1beta")),
                *(Route(f"/{v}/models/{{model}}:batchEmbedContents", self.batch_embed, methods=["POST"])
                  for v in ("v1", "v1beta")),
                Route("/token", self.token, methods=["POST"]),
                Route(
                    "/{version}/projects/{project}/locations/{location}/publishers/google/models/{model}:streamGenerateContent",
                    self.stream_generate,
                    methods=["POST"],
                ),
            ]
        )

    async def token(self, request: Request) -> Response:
        """Google's OAuth 2.0 token endpoint: a service account's signed JWT for an access token."""
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or not form.get("assertion"):
            return Response(orjson.dumps({"error": "invalid_grant"}), status_code=400, media_type="application/json")
        self.access_token = "ya29.emulated-access-token"
        payload = {"access_token": self.access_token, "expires_in": 3599, "token_type": "Bearer"}
        return Response(orjson.dumps(payload), media_type="application/json")

    def authorized(self, request: Request) -> bool:
        if "/projects/" in request.url.path:
            return self.access_token is not None and request.headers.get("authorization") == f"Bearer {self.access_token}"
        return request.headers.get("x-goog-api-key") == self.api_key

    async def stream_generate(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.remember(request, body)
        if not self.authorized(request):
            return Response(orjson.dumps(_error(401, "API key not valid. Please pass a valid API key.")), status_code=401,
                            media_type="application/json")  # fmt: skip
        fault = self.next_fault()
        if fault and fault.kind == "status":
            return Response(orjson.dumps(_error(fault.status, fault.message)), status_code=fault.status,
                            media_type="application/json", headers=fault.headers)  # fmt: skip
        contents = body.get("contents")
        if not isinstance(contents, list) or not all(isinstance(c, dict) for c in contents):
            return Response(orjson.dumps(_error(400, "Invalid JSON payload received. Unknown name \"contents\".")),
                            status_code=400, media_type="application/json")  # fmt: skip
        roles = {content.get("role") for content in contents}
        if not roles <= {"user", "model"}:  # the API's own words for another role
            return Response(orjson.dumps(_error(400, "Please use a valid role: user, model.")), status_code=400,
                            media_type="application/json")  # fmt: skip
        model = request.path_params["model"]
        return StreamingResponse(self.watched(self._stream(body, model, fault), fault), media_type="text/event-stream")

    async def _stream(self, body: dict[str, Any], model: str, fault: Fault | None) -> AsyncIterator[bytes]:
        def chunk(parts: list[dict[str, Any]], produced: int, finish: str | None = None) -> bytes:
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if finish:
                candidate["finishReason"] = finish
            thoughts = self.usage_extra.get("reasoning_tokens", 0)
            usage = {"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": produced,
                     "totalTokenCount": PROMPT_TOKENS + produced + thoughts}  # fmt: skip  (thoughts included, as documented)
            if self.usage_extra.get("reasoning_tokens"):
                usage["thoughtsTokenCount"] = self.usage_extra["reasoning_tokens"]
            if self.usage_extra.get("cached_tokens"):
                usage["cachedContentTokenCount"] = self.usage_extra["cached_tokens"]
            data = {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": "resp-emulated"}
            return _event(data)

        if fault and fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
        mode = (((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")) or "AUTO"
        if body.get("tools") and mode != "NONE":
            name = body["tools"][0]["functionDeclarations"][0]["name"]
            await self.pause()
            yield chunk([{"functionCall": {"name": name, "args": {"location": "Paris"}}}], 12, "STOP")
            return
        if self.thinking:
            yield chunk([{"text": self.thinking, "thought": True}], 0)
        pieces = self.pieces()
        limit = (body.get("generationConfig") or {}).get("maxOutputTokens")
        finish = "STOP"
        if limit is not None and limit < len(pieces):
            pieces, finish = pieces[:limit], "MAX_TOKENS"
        for i, piece in enumerate(pieces):
            if fault and fault.kind == "midstream_error" and i == fault.after_chunks:
                yield _event(_error(503, fault.message))
                return
            await self.pause()
            last = i == len(pieces) - 1
            yield chunk([{"text": piece}], i + 1, finish if last else None)

    async def batch_embed(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.remember(request, body)
        if not self.authorized(request):
            return Response(orjson.dumps(_error(401, "API key not valid.")), status_code=401, media_type="application/json")
        texts = [r["content"]["parts"][0]["text"] for r in body["requests"]]
        embeddings = [{"values": [round(len(t) / 100, 4), 0.5, float(i)]} for i, t in enumerate(texts)]
        return Response(orjson.dumps({"embeddings": embeddings}), media_type="application/json")
