"""A local server that speaks Bedrock Runtime's ConverseStream: the AWS binary event stream.

`POST /model/{modelId}/converse-stream` answers `application/vnd.amazon.eventstream`: a
sequence of messages, each framed as AWS documents it — total length and headers length
(4 bytes each, big-endian), a CRC32 of those 8 bytes, the headers (name length, name, type 7
= string, value length, value), the JSON payload, and a CRC32 of the whole message. Events
(`:message-type` event): messageStart, contentBlockStart, contentBlockDelta,
contentBlockStop, messageStop, metadata (usage). An error in the stream is a message of type
`exception`. HTTP errors carry `x-amzn-ErrorType` and a JSON `message`.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import struct
import zlib
from typing import Any, AsyncIterator

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.emulators.base import DROP, TOOL_ARGUMENT_PIECES, EmulatorState, Fault, mangled

INPUT_TOKENS = 21
_ERROR_CODES = {400: "ValidationException", 401: "UnrecognizedClientException", 403: "AccessDeniedException",
                404: "ResourceNotFoundException", 429: "ThrottlingException", 500: "InternalServerException",
                503: "ServiceUnavailableException"}  # fmt: skip


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return struct.pack("!B", len(raw_name)) + raw_name + b"\x07" + struct.pack("!H", len(raw_value)) + raw_value


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message, with its prelude and message CRC32s."""
    raw_headers = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    prelude += struct.pack("!I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + raw_headers + payload
    return message + struct.pack("!I", zlib.crc32(message) & 0xFFFFFFFF)


def event(kind: str, payload: dict[str, Any]) -> bytes:
    payload = mangled(payload)
    if payload is DROP:
        return b""
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, orjson.dumps(payload))


def exception(kind: str, message: str) -> bytes:
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, orjson.dumps({"message": message}))


ACCESS_KEY_ID = "AKIAEMULATOR00000000"
SECRET_ACCESS_KEY = "emulator-secret-access-key-0123456789"
_AUTHORIZATION = re.compile(r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/bedrock/aws4_request, "
                            r"SignedHeaders=(?P<headers>[^,]+), Signature=(?P<signature>[0-9a-f]{64})")  # fmt: skip


def _signed_by_the_emulators_key(request: Request, body: bytes) -> bool:
    """Signature Version 4, recomputed here over what arrived (method, raw path, query, the
    signed headers, the body's hash) with the secret only the emulator and the test's
    environment know, as AWS verifies it."""
    match = _AUTHORIZATION.fullmatch(request.headers.get("authorization", ""))
    if match is None or match["key"] != ACCESS_KEY_ID:
        return False
    headers = {name: request.headers[name] for name in match["headers"].split(";") if name in request.headers}
    url = f"http://{request.headers['host']}{request.scope['raw_path'].decode()}"
    if request.scope.get("query_string"):
        url += "?" + request.scope["query_string"].decode()
    signed = AWSRequest(method=request.method, url=url, data=body, headers=headers)
    signed.context["timestamp"] = request.headers.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "bedrock", match["region"])
    expected = signer.signature(signer.string_to_sign(signed, signer.canonical_request(signed)), signed)
    return hmac.compare_digest(expected, match["signature"])


class BedrockEmulator(EmulatorState):
    def __init__(self) -> None:
        super().__init__()
        self.app = Starlette(routes=[Route("/model/{model_id:path}/converse-stream", self.converse_stream, methods=["POST"])])

    async def converse_stream(self, request: Request) -> Response:
        raw = await request.body()
        body = orjson.loads(raw)
        self.remember(request, body)
        if not _signed_by_the_emulators_key(request, raw):
            return self._error(403, "The request signature we calculated does not match the signature you provided.")
        fault = self.next_fault()
        if fault and fault.kind == "status":
            return self._error(fault.status, fault.message, fault.headers)
        return StreamingResponse(self.watched(self._stream(body, fault), fault), media_type="application/vnd.amazon.eventstream")

    @staticmethod
    def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        code = _ERROR_CODES.get(status, "InternalServerException")
        return Response(orjson.dumps({"message": message}), status_code=status, media_type="application/json",
                        headers={"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                                 **(headers or {})})  # fmt: skip

    async def _stream(self, body: dict[str, Any], fault: Fault | None) -> AsyncIterator[bytes]:
        yield event("messageStart", {"role": "assistant"})
        if fault and fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
        if body.get("toolConfig"):
            name = body["toolConfig"]["tools"][0]["toolSpec"]["name"]
            start = {"toolUse": {"toolUseId": "tooluse_emulated_1", "name": name}}
            yield event("contentBlockStart", {"contentBlockIndex": 0, "start": start})
            for piece in TOOL_ARGUMENT_PIECES:
                await self.pause()
                yield event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}}})
            yield event("contentBlockStop", {"contentBlockIndex": 0})
            stop_reason, produced = "tool_use", 12
        else:
            if self.thinking:
                reasoning = {"reasoningContent": {"text": self.thinking}}
                yield event("contentBlockDelta", {"contentBlockIndex": 0, "delta": reasoning})
            pieces = self.pieces()
            limit = (body.get("inferenceConfig") or {}).get("maxTokens")
            stop_reason = "end_turn"
            if limit is not None and limit < len(pieces):
                pieces, stop_reason = pieces[:limit], "max_tokens"
            for i, piece in enumerate(pieces):
                if fault and fault.kind == "midstream_error" and i == fault.after_chunks:
                    yield exception("modelStreamErrorException", fault.message)
                    return
                await self.pause()
                yield event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})
            yield event("contentBlockStop", {"contentBlockIndex": 0})
            produced = len(pieces)
        yield event("messageStop", {"stopReason": stop_reason})
        usage = {"inputTokens": INPUT_TOKENS, "outputTokens": produced, "totalTokens": INPUT_TOKENS + produced}
        usage.update({k: v for k, v in self.usage_extra.items() if k in ("cacheReadInputTokens", "cacheWriteInputTokens")})
        yield event("metadata", {"usage": usage, "metrics": {"latencyMs": 120}})
