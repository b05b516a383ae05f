"""The `mock` provider: answers without a key or a network, for first runs, offline tests and CI.

It is an adapter like the others (the gateway measures, prices and records its calls the same
way), with a vendor of its own in this module. Its "wire" is the request's parameters, so
a client scripts it through the same channel it uses for any vendor's body:

- model `echo` answers with the text of the last user message, `fixed` with `FIXED_ANSWER`;
- `first_token_s` and `chunk_gap_s` pace the stream; `max_tokens` cuts it (finish `length`);
- `error_status` fails the call as a vendor answering that HTTP status would, before any text;
  `stream_error_after` breaks the stream after that many chunks;
- with tools offered (and `tool_choice` not `none`) a user turn gets a call of the named or
  first tool, its required arguments filled from the schema; a tool result gets a text answer;
- a `json_schema` or `json_object` response format gets JSON that fits the schema.

Tokens are words: the input counts the words of every message, the output one per chunk.
Embeddings (model `hash-embed`) are unit vectors derived from a hash of each text.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import uuid
from typing import Any, AsyncIterator

import httpx2
import orjson

from llmgateway.errors import upstream_status_error, upstream_stream_error
from llmgateway.providers.messages import json_schema_of
from llmgateway.vocabulary.events import (
    ChatEvent,
    EmbeddingResult,
    Finish,
    ResponseInfo,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llmgateway.vocabulary.requests import ChatRequest, EmbeddingRequest

FIXED_ANSWER = "Hello! This is the mock provider of llmgateway: no vendor was called."
EMBEDDING_DIMENSIONS = 8


class MockAdapter:
    def __init__(self, http_client: httpx2.AsyncClient) -> None:
        self._http = http_client  # unused: the mock calls nothing

    async def warm_up(self) -> None:
        """No network, nothing to pay ahead."""

    async def aclose(self) -> None:
        await self._http.aclose()

    def credentials(self, request: ChatRequest | EmbeddingRequest) -> list[str]:
        return []

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        script = request.parameters
        if script.get("error_status") is not None:
            status = int(script["error_status"])
            raise upstream_status_error(status, f"the mock provider was asked to fail with {status}")
        yield ResponseInfo(model=request.model, response_id=f"mock-{uuid.uuid4().hex}")
        input_tokens = sum(_word_count(m.get("content")) for m in request.messages)
        tool_call = _tool_call(request)
        if tool_call is not None:
            await _pause(script.get("first_token_s") or 0)
            yield tool_call
            yield Finish("tool_calls")
            yield Usage(input_tokens=input_tokens, output_tokens=_word_count(tool_call.arguments))
            return
        words = _answer(request).split(" ")
        limit = script.get("max_tokens")
        emitted = words if limit is None else words[: int(limit)]
        break_after = script.get("stream_error_after")
        for index, word in enumerate(emitted):
            if index == break_after:
                raise upstream_stream_error("mock_stream_error", f"the mock provider was asked to break after {index} chunks")
            await _pause((script.get("first_token_s") if index == 0 else script.get("chunk_gap_s")) or 0)
            yield TextDelta(word if index == 0 else f" {word}")
        yield Finish("length" if len(emitted) < len(words) else "stop")
        yield Usage(input_tokens=input_tokens, output_tokens=len(emitted))

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        vectors = [_hash_vector(text) for text in request.inputs]
        return EmbeddingResult(vectors, sum(_word_count(text) for text in request.inputs), request.model)


def _answer(request: ChatRequest) -> str:
    text = _last_user_text(request.messages) if request.model == "echo" else FIXED_ANSWER
    if request.messages and request.messages[-1].get("role") == "tool":
        text = f"The tool answered: {_text_of(request.messages[-1].get('content'))}"
    structured = json_schema_of(request.response_format)
    if structured is not None:
        schema = structured[1]
        return orjson.dumps(_example(schema, text) if schema else {"answer": text}).decode()
    return text or "(empty)"


def _tool_call(request: ChatRequest) -> ToolCallDelta | None:
    """A call of the tool the request names (or its first), when the last turn is the user's."""
    if not request.tools or request.tool_choice == "none" or not request.messages:
        return None
    if request.messages[-1].get("role") != "user":
        return None
    functions = [tool.get("function") or {} for tool in request.tools]
    chosen = functions[0]
    if isinstance(request.tool_choice, dict):
        name = (request.tool_choice.get("function") or {}).get("name")
        chosen = next((f for f in functions if f.get("name") == name), chosen)
    arguments = _example(chosen.get("parameters") or {}, _last_user_text(request.messages))
    return ToolCallDelta(0, f"call_mock_{uuid.uuid4().hex[:12]}", chosen.get("name"), orjson.dumps(arguments).decode())


def _example(schema: dict[str, Any], text: str) -> Any:
    """A value that fits a JSON schema: every required property, strings filled with `text`."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        required = schema.get("required") or list(properties)
        return {name: _example(properties.get(name) or {}, text) for name in required}
    if kind == "array":
        return [_example(schema.get("items") or {}, text)]
    return {"integer": 0, "number": 0, "boolean": False, "null": None}.get(kind, text)


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    return next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")
    return ""


def _word_count(content: Any) -> int:
    return len(_text_of(content).split())


def _hash_vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    raw = [int.from_bytes(digest[i : i + 4], "big") / 2**32 - 0.5 for i in range(0, 4 * EMBEDDING_DIMENSIONS, 4)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


async def _pause(seconds: float) -> None:
    """At least `seconds` by the monotonic clock the metrics read: the event loop's timers
    (uvloop's count milliseconds) may wake a little before it."""
    until = time.monotonic() + seconds
    await asyncio.sleep(seconds)
    while (left := until - time.monotonic()) > 0:
        await asyncio.sleep(left)
