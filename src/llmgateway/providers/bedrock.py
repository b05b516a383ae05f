"""Amazon Bedrock's ConverseStream API, through aiobotocore (botocore's async client).

Credentials come from the standard AWS chain (environment, shared files, instance role); the
region from AWS_REGION / AWS_DEFAULT_REGION or the catalog's `options.region`; the endpoint
from AWS_ENDPOINT_URL_BEDROCK_RUNTIME when set. botocore decodes the binary event stream.
Usage comes from the `metadata` event: input = inputTokens (+ cache reads and writes),
cached = cacheReadInputTokens. One client per region and endpoint, created on first use and
kept; botocore's own retries are off.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import httpx2
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from llmgateway.errors import (
    BadRequestError,
    MissingCredentialsError,
    ProviderNotConfiguredError,
    UpstreamError,
    UpstreamTimeoutError,
    upstream_status_error,
    upstream_stream_error,
    upstream_unreachable,
)
from llmgateway.providers.base import EmbeddingsNotSupportedError, checked, parsed_by_the_sdk, translating
from llmgateway.providers.messages import (
    Image,
    content_parts,
    json_schema_of,
    merged_turns,
    split_system,
    text_of,
    tool_arguments,
    tool_choice_mode,
)
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

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
_INFERENCE_NAMES = {"max_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP", "stop": "stopSequences"}
_RETRYABLE_CODES = {"ThrottlingException", "ServiceUnavailableException", "InternalServerException",
                    "ModelStreamErrorException", "ModelNotReadyException"}  # fmt: skip


class BedrockAdapter:
    def __init__(self, http_client: httpx2.AsyncClient) -> None:
        self._http = http_client  # unused for calls (botocore has its own pool); closed with us
        timeout = http_client.timeout
        self._config = AioConfig(
            retries={"total_max_attempts": 1, "mode": "standard"},  # no retries: the gateway owns them
            connect_timeout=timeout.connect,
            read_timeout=timeout.read,
            max_pool_connections=200,
        )
        self._session = get_session()
        self._clients: dict[tuple[str, str | None], tuple[Any, Any]] = {}
        self._secrets: list[str] = []  # of the credentials the clients sign with, to scrub them
        self._lock = asyncio.Lock()

    async def _client(self, region: str, endpoint: str | None) -> Any:
        key = (region, endpoint)
        entry = self._clients.get(key)
        if entry is None:
            async with self._lock:
                entry = self._clients.get(key)
                if entry is None:
                    context = self._session.create_client(
                        "bedrock-runtime", region_name=region, endpoint_url=endpoint, config=self._config
                    )
                    entry = self._clients[key] = (context, await context.__aenter__())
                    credentials = await self._session.get_credentials()
                    if credentials is not None:
                        frozen = await credentials.get_frozen_credentials()
                        self._secrets = [s for s in (frozen.secret_key, frozen.token) if s]
        return entry[1]

    def credentials(self, request: ChatRequest | EmbeddingRequest) -> list[str]:
        return list(self._secrets)

    async def warm_up(self) -> None:
        """Nothing yet: the client of a region is made, and its credentials read, by its first request."""

    async def aclose(self) -> None:
        for context, _client in self._clients.values():
            await context.__aexit__(None, None, None)
        self._clients.clear()
        await self._http.aclose()

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        raise EmbeddingsNotSupportedError("bedrock embeddings are not served through this gateway yet")

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        region = request.vendor_options.get("region")
        if not region:
            raise ProviderNotConfiguredError("provider 'bedrock' has no region: set AWS_REGION on the server")
        arguments = build_converse_arguments(request)
        started = False
        try:
            client = await self._client(region, request.base_url)
            response = await client.converse_stream(**arguments)
            yield ResponseInfo(request.model, response.get("ResponseMetadata", {}).get("RequestId"))
            tool_index: dict[int, int] = {}
            try:
                async for event in parsed_by_the_sdk(response["stream"]):
                    started = True
                    with translating():
                        events = checked(translate_event(event, tool_index))
                    for translated in events:
                        yield translated
            finally:
                response["stream"].close()  # a consumer that stops early closes the upstream response
        except ClientError as exc:
            raise _client_error(exc, started) from None
        except NoCredentialsError:
            raise MissingCredentialsError(
                "no AWS credentials for provider 'bedrock': set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or AWS_PROFILE, on the server"
            ) from None
        except ReadTimeoutError:
            raise UpstreamTimeoutError("the upstream did not answer in time") from None
        except (EndpointConnectionError, BotoCoreError) as exc:
            raise upstream_unreachable(exc) from None


def _client_error(exc: ClientError, started: bool) -> UpstreamError:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if started or not status:  # an exception event inside the stream (named in camel case there)
        retryable = code[:1].upper() + code[1:] in _RETRYABLE_CODES
        return upstream_stream_error(code, str(error.get("Message", "")), retryable=retryable)
    return upstream_status_error(status, f"{code}: {error.get('Message', '')}")


def build_converse_arguments(request: ChatRequest) -> dict[str, Any]:
    system, messages = split_system(request.messages)
    params = dict(request.parameters)
    inference = {_INFERENCE_NAMES[k]: params.pop(k) for k in list(params) if k in _INFERENCE_NAMES}
    if isinstance(inference.get("stopSequences"), str):
        inference["stopSequences"] = [inference["stopSequences"]]
    turns = [{"role": role, "content": blocks} for role, blocks in merged_turns(messages, _blocks)]
    arguments: dict[str, Any] = {"modelId": request.model, "messages": turns}
    if system:
        arguments["system"] = [{"text": system}]
    if inference:
        arguments["inferenceConfig"] = inference
    if params:  # model-specific fields (top_k, ...) go through as Bedrock allows
        arguments["additionalModelRequestFields"] = params
    if request.tools:
        tool_config: dict[str, Any] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": t["function"]["name"],
                        "description": t["function"].get("description") or t["function"]["name"],
                        "inputSchema": {"json": t["function"].get("parameters") or {"type": "object"}},
                    }
                }
                for t in request.tools
            ]
        }
        mode, name = tool_choice_mode(request.tool_choice)
        if mode in ("auto", "required", "function"):
            tool_config["toolChoice"] = {"auto": {"auto": {}}, "required": {"any": {}}}.get(mode, {"tool": {"name": name}})
        arguments["toolConfig"] = tool_config
    if json_schema_of(request.response_format) is not None:
        raise BadRequestError("response_format: bedrock's Converse API has no JSON mode or structured output")
    return arguments


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    if message["role"] == "tool":
        text = text_of(message)
        return [{"toolResult": {"toolUseId": message.get("tool_call_id", ""), "content": [{"text": text}]}}]
    blocks: list[dict[str, Any]] = []
    for part in content_parts(message):
        if isinstance(part, Image):
            if part.data is None or not part.media_type:
                raise BadRequestError("image_url: bedrock takes inline images only (a base64 data URL)")
            blocks.append({"image": {"format": part.media_type.split("/")[-1], "source": {"bytes": part.raw_bytes()}}})
        elif part:
            blocks.append({"text": part})
    for call in message.get("tool_calls") or ():
        blocks.append({"toolUse": {"toolUseId": call["id"], "name": call["function"]["name"], "input": tool_arguments(call)}})
    return blocks


def translate_event(event: dict[str, Any], tool_index: dict[int, int]) -> list[ChatEvent]:
    if "contentBlockDelta" in event:
        body = event["contentBlockDelta"]
        delta = body.get("delta") or {}
        if delta.get("text"):
            return [TextDelta(delta["text"])]
        if "toolUse" in delta:
            index = tool_index.get(body.get("contentBlockIndex", 0))
            return [] if index is None else [ToolCallDelta(index, arguments=delta["toolUse"].get("input", ""))]
        return []  # reasoningContent: thinking stays out of the answer
    if "contentBlockStart" in event:
        body = event["contentBlockStart"]
        tool = (body.get("start") or {}).get("toolUse")
        if tool:
            index = tool_index[body.get("contentBlockIndex", 0)] = len(tool_index)
            return [ToolCallDelta(index, tool.get("toolUseId"), tool.get("name"), "")]
        return []
    if "messageStop" in event:
        return [Finish(STOP_REASONS.get(event["messageStop"].get("stopReason", ""), "stop"))]
    if "metadata" in event:
        usage = event["metadata"].get("usage") or {}
        cache_read = usage.get("cacheReadInputTokens") or 0
        cache_write = usage.get("cacheWriteInputTokens") or 0
        return [
            Usage(
                input_tokens=(usage.get("inputTokens") or 0) + cache_read + cache_write,
                output_tokens=usage.get("outputTokens") or 0,
                cached_tokens=cache_read,
                cache_write_tokens=cache_write,
            )
        ]
    return []
