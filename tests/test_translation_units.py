"""Each adapter's translation of its vendor's streamed events, from payloads shaped as the
vendors' API references document them (not as the emulators happen to send them), with the
exact events expected. Fast, so that mutation testing reaches the translators.

OpenAI: chat.completion.chunk (choices[].delta content / refusal / tool_calls; usage with
prompt_tokens_details.cached_tokens and completion_tokens_details.reasoning_tokens, in a last
chunk with empty choices). Anthropic Messages streaming: message_start (usage input and cache
counts), content_block_start/delta/stop (text_delta, input_json_delta, thinking_delta),
message_delta (stop_reason; cumulative usage), message_stop, error. Bedrock ConverseStream:
messageStart, contentBlockStart (toolUse), contentBlockDelta (text, toolUse.input,
reasoningContent), messageStop (stopReason), metadata (usage with cacheRead/WriteInputTokens).
Gemini streamGenerateContent: candidates[].content.parts (text, thought, functionCall),
finishReason, usageMetadata (cumulative; thoughtsTokenCount apart from candidatesTokenCount).
Ollama /api/chat: message content / tool_calls, done, done_reason, prompt_eval_count, eval_count.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import types
from ollama import ChatResponse

from llmgateway.catalog import load_catalog
from llmgateway.errors import BadRequestError, UpstreamError
from llmgateway.providers.anthropic import StreamTranslator as AnthropicTranslator
from llmgateway.providers.anthropic import build_messages_body
from llmgateway.providers.base import checked, parsed_by_the_sdk, translating
from llmgateway.providers.bedrock import build_converse_arguments, translate_event
from llmgateway.providers.google import StreamTranslator as GeminiTranslator
from llmgateway.providers.google import build_config, build_contents
from llmgateway.providers.ollama import build_messages, build_options, translate_part
from llmgateway.providers.openai import build_chat_body, translate_chunk
from llmgateway.providers.sse import ServerSentEvent, SSEDecoder
from llmgateway.vocabulary.events import Finish, ReasoningDelta, ResponseInfo, TextDelta, ToolCallDelta, Usage
from llmgateway.vocabulary.requests import ChatRequest


def test_openai_chunks() -> None:
    assert list(translate_chunk({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})) == []
    assert list(translate_chunk({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]})) == [
        TextDelta("Hi")]
    assert list(translate_chunk({"choices": [{"index": 0, "delta": {"refusal": "No."}}]})) == [TextDelta("No.")]
    assert list(translate_chunk({"choices": [{"index": 1, "delta": {"content": "other choice"}}]})) == []
    assert list(translate_chunk({"choices": [{"delta": {"reasoning_content": "hmm"}}]})) == [ReasoningDelta("hmm")]  # not text
    call = {"index": 1, "id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    assert list(translate_chunk({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})) == [
        ToolCallDelta(1, "call_9", "get_weather", "")]
    piece = {"index": 1, "function": {"arguments": '{"loc'}}
    assert list(translate_chunk({"choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]})) == [
        ToolCallDelta(1, None, None, '{"loc')]
    assert list(translate_chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})) == [Finish("length")]
    usage = {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160,
             "prompt_tokens_details": {"cached_tokens": 64}, "completion_tokens_details": {"reasoning_tokens": 25}}
    assert list(translate_chunk({"choices": [], "usage": usage})) == [Usage(120, 40, 64, 25)]
    assert list(translate_chunk({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1,
                                                          "prompt_tokens_details": None}})) == [Usage(3, 1, 0, 0)]
    assert list(translate_chunk({"choices": [], "usage": None})) == []  # include_usage chunks before the last


def test_openai_error_in_the_stream() -> None:
    with pytest.raises(UpstreamError) as caught:
        list(translate_chunk({"error": {"message": "overloaded", "type": "server_error", "code": "overloaded"}}))
    assert (caught.value.status_code, caught.value.error_type, caught.value.retryable) == (502, "upstream_stream_error", True)
    assert caught.value.message == "upstream stream error (overloaded): overloaded"
    with pytest.raises(UpstreamError) as plain:
        list(translate_chunk({"error": "boom"}))
    assert plain.value.message == "upstream stream error: boom"


def test_anthropic_stream() -> None:
    t = AnthropicTranslator()
    start = {"type": "message_start", "message": {"id": "msg_1", "model": "claude-sonnet-4-5", "usage": {
        "input_tokens": 10, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 20, "output_tokens": 1}}}
    assert list(t.translate("message_start", start)) == [ResponseInfo("claude-sonnet-4-5", "msg_1")]
    thinking = {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}
    assert list(t.translate("content_block_start", thinking)) == []
    assert list(t.translate("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                    "delta": {"type": "thinking_delta", "thinking": "hmm"}})) == [
        ReasoningDelta("hmm")]
    assert list(t.translate("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                    "delta": {"type": "signature_delta", "signature": "sig"}})) == [
        ReasoningDelta("", signature="sig")]  # fmt: skip
    text = {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}
    assert list(t.translate("content_block_start", text)) == []
    delta = {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hello"}}
    assert list(t.translate("content_block_delta", delta)) == [TextDelta("Hello")]
    tool = {"type": "content_block_start", "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}}
    assert list(t.translate("content_block_start", tool)) == [ToolCallDelta(0, "toolu_1", "get_weather", "")]
    json_delta = {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"a"'}}
    assert list(t.translate("content_block_delta", json_delta)) == [ToolCallDelta(0, None, None, '{"a"')]
    stray = {"type": "content_block_delta", "index": 7, "delta": {"type": "input_json_delta", "partial_json": "x"}}
    assert list(t.translate("content_block_delta", stray)) == []  # no tool block at that index
    assert list(t.translate("ping", {"type": "ping"})) == []
    end = {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
           "usage": {"input_tokens": 10, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 20, "output_tokens": 42,
                     "output_tokens_details": {"thinking_tokens": 30}}}
    assert list(t.translate("message_delta", end)) == [Finish("tool_calls")]
    assert list(t.translate("message_stop", {"type": "message_stop"})) == [
        Usage(input_tokens=35, output_tokens=42, cached_tokens=20, reasoning_tokens=30, cache_write_tokens=5)]


@pytest.mark.parametrize(("stop_reason", "finish"), [("end_turn", "stop"), ("max_tokens", "length"),
                                                     ("stop_sequence", "stop"), ("tool_use", "tool_calls"),
                                                     ("pause_turn", "stop"), ("refusal", "content_filter"),
                                                     ("model_context_window_exceeded", "length")])  # fmt: skip
def test_anthropic_stop_reasons(stop_reason: str, finish: str) -> None:
    event = {"type": "message_delta", "delta": {"stop_reason": stop_reason}, "usage": {"output_tokens": 1}}
    assert list(AnthropicTranslator().translate("message_delta", event)) == [Finish(finish)]


@pytest.mark.parametrize(("error_type", "retryable"), [("overloaded_error", True), ("api_error", True),
                                                       ("invalid_request_error", False)])  # fmt: skip
def test_anthropic_error_event(error_type: str, retryable: bool) -> None:
    with pytest.raises(UpstreamError) as caught:
        list(AnthropicTranslator().translate("error", {"type": "error", "error": {"type": error_type, "message": "m"}}))
    assert caught.value.retryable is retryable and caught.value.message == f"upstream stream error ({error_type}): m"


def test_bedrock_converse_stream() -> None:
    tools: dict[int, int] = {}
    assert translate_event({"messageStart": {"role": "assistant"}}, tools) == []
    assert translate_event({"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hi"}}}, tools) == [TextDelta("Hi")]
    thinking = {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hmm"}}}}
    assert translate_event(thinking, tools) == []
    start = {"contentBlockStart": {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "f"}}}}
    assert translate_event(start, tools) == [ToolCallDelta(0, "tooluse_1", "f", "")]
    piece = {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"a":1}'}}}}
    assert translate_event(piece, tools) == [ToolCallDelta(0, None, None, '{"a":1}')]
    assert translate_event({"contentBlockDelta": {"contentBlockIndex": 5, "delta": {"toolUse": {"input": "x"}}}}, tools) == []
    assert translate_event({"contentBlockStart": {"contentBlockIndex": 2, "start": {}}}, tools) == []
    assert translate_event({"contentBlockStop": {"contentBlockIndex": 1}}, tools) == []
    assert translate_event({"messageStop": {"stopReason": "max_tokens"}}, tools) == [Finish("length")]
    assert translate_event({"messageStop": {"stopReason": "tool_use"}}, tools) == [Finish("tool_calls")]
    assert translate_event({"messageStop": {"stopReason": "end_turn"}}, tools) == [Finish("stop")]
    metadata = {"metadata": {"usage": {"inputTokens": 10, "outputTokens": 7, "totalTokens": 47,
                                       "cacheReadInputTokens": 30, "cacheWriteInputTokens": 0},
                             "metrics": {"latencyMs": 120}}}  # fmt: skip
    assert translate_event(metadata, tools) == [Usage(input_tokens=40, output_tokens=7, cached_tokens=30)]
    assert translate_event({"metadata": {"usage": {"inputTokens": 3, "outputTokens": 2, "cacheWriteInputTokens": 4}}},
                           tools) == [Usage(input_tokens=7, output_tokens=2, cache_write_tokens=4)]  # fmt: skip


def _gemini(parts: list[dict], finish: str | None = None, usage: dict | None = None, model: str | None = None) -> Any:
    payload: dict = {"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}]}
    if finish:
        payload["candidates"][0]["finishReason"] = finish
    if usage:
        payload["usageMetadata"] = usage
    if model:
        payload["modelVersion"], payload["responseId"] = model, "resp-1"
    return types.GenerateContentResponse.model_validate(payload)


def test_gemini_stream() -> None:
    t = GeminiTranslator()
    first = _gemini([{"text": "thinking...", "thought": True}], model="gemini-2.5-flash",
                    usage={"promptTokenCount": 8, "candidatesTokenCount": 0})  # fmt: skip
    assert list(t.translate(first)) == [ResponseInfo("gemini-2.5-flash", "resp-1")]
    assert list(t.translate(_gemini([{"text": "Hel"}], model="gemini-2.5-flash"))) == [TextDelta("Hel")]  # info once
    call = _gemini([{"functionCall": {"id": "fc1", "name": "get_weather", "args": {"location": "Paris"}}}], finish="STOP",
                   usage={"promptTokenCount": 8, "candidatesTokenCount": 12, "thoughtsTokenCount": 30,
                          "cachedContentTokenCount": 4, "totalTokenCount": 50})  # fmt: skip
    assert list(t.translate(call)) == [ToolCallDelta(0, "fc1", "get_weather", '{"location":"Paris"}')]
    assert list(t.close()) == [Finish("tool_calls"),  # a function call that ends with STOP
                               Usage(input_tokens=8, output_tokens=42, cached_tokens=4, reasoning_tokens=30)]  # fmt: skip


@pytest.mark.parametrize(("reason", "finish"), [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter")])
def test_gemini_finish_reasons(reason: str, finish: str) -> None:
    t = GeminiTranslator()
    assert list(t.translate(_gemini([{"text": "x"}], finish=reason))) == [TextDelta("x")]
    assert list(t.close()) == [Finish(finish)]


def test_gemini_stream_without_finish_or_usage_says_nothing_more() -> None:
    t = GeminiTranslator()
    list(t.translate(_gemini([{"text": "x"}])))
    assert list(t.close()) == []


def _ollama(message: dict, **fields: Any) -> ChatResponse:
    return ChatResponse.model_validate({"model": "llama3.2", "created_at": "2026-11-28T08:52:19Z", "message": message,
                                        "done": False, **fields})  # fmt: skip


def test_ollama_parts() -> None:
    assert translate_part(_ollama({"role": "assistant", "content": "Hi"}), 0) == [TextDelta("Hi")]
    assert translate_part(_ollama({"role": "assistant", "content": "", "thinking": "hmm"}), 0) == [ReasoningDelta("hmm")]
    call = {"function": {"name": "get_weather", "arguments": {"location": "Paris"}}}
    assert translate_part(_ollama({"role": "assistant", "content": "", "tool_calls": [call, call]}), 1) == [
        ToolCallDelta(1, None, "get_weather", '{"location":"Paris"}'),
        ToolCallDelta(2, None, "get_weather", '{"location":"Paris"}'),
    ]
    last = _ollama({"role": "assistant", "content": ""}, done=True, done_reason="length", prompt_eval_count=26, eval_count=5)
    assert translate_part(last, 0) == [Finish("length"), Usage(input_tokens=26, output_tokens=5)]
    after_calls = _ollama({"role": "assistant", "content": ""}, done=True, done_reason="stop", prompt_eval_count=1, eval_count=2)
    assert translate_part(after_calls, 1) == [Finish("tool_calls"), Usage(input_tokens=1, output_tokens=2)]
    no_counts = _ollama({"role": "assistant", "content": ""}, done=True, done_reason="load")
    assert translate_part(no_counts, 0) == [Finish("stop"), Usage(input_tokens=0, output_tokens=0)]


# -- the request bodies ------------------------------------------------------------------------


CATALOG = load_catalog()
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "The weather",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
PNG = "iVBORw0KGgo="
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                 {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "22C"},
]  # fmt: skip


def _request(provider: str, model: str, messages: list | None = None, **fields: Any) -> ChatRequest:
    return ChatRequest(provider=CATALOG.provider(provider), model=model, messages=messages or CONVERSATION, **fields)


def test_openai_body() -> None:
    body = build_chat_body(_request("openai", "gpt-4o-mini", parameters={"max_tokens": 50, "temperature": 0.2},
                                    tools=[TOOL], tool_choice="required", response_format={"type": "json_object"}))  # fmt: skip
    assert body == {"model": "gpt-4o-mini", "messages": CONVERSATION, "stream": True, "stream_options": {"include_usage": True},
                    "max_completion_tokens": 50, "temperature": 0.2, "tools": [TOOL], "tool_choice": "required",
                    "response_format": {"type": "json_object"}}  # fmt: skip
    plain = build_chat_body(_request("openai", "gpt-4o-mini", [{"role": "user", "content": "hi"}]))
    assert plain == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True,
                     "stream_options": {"include_usage": True}}  # fmt: skip


def test_anthropic_body() -> None:
    body = build_messages_body(_request("anthropic", "claude-sonnet-4-5", parameters={"max_tokens": 300, "stop": "END",
                                                                                        "top_k": 5}, tools=[TOOL]))
    assert body == {
        "model": "claude-sonnet-4-5", "max_tokens": 300, "stream": True, "system": "Be brief.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "22C"}]},
        ],
        "stop_sequences": ["END"], "top_k": 5,
        "tools": [{"name": "get_weather", "description": "The weather", "input_schema": TOOL["function"]["parameters"]}],
    }  # fmt: skip
    default = build_messages_body(_request("anthropic", "claude-sonnet-4-5", [{"role": "user", "content": "hi"}]))
    assert default["max_tokens"] == CATALOG.provider("anthropic").parameters["max_tokens"].default and "system" not in default
    with pytest.raises(BadRequestError, match="json_object"):
        build_messages_body(_request("anthropic", "claude-sonnet-4-5", response_format={"type": "json_object"}))
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    structured = build_messages_body(_request("anthropic", "claude-sonnet-4-5", response_format={
        "type": "json_schema", "json_schema": {"name": "x", "schema": schema}}))  # fmt: skip
    assert structured["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


def test_bedrock_converse_arguments() -> None:
    arguments = build_converse_arguments(_request("bedrock", "m", parameters={"max_tokens": 100, "temperature": 0.5,
                                                                             "stop": "END", "top_k": 3}, tools=[TOOL]))
    assert arguments == {
        "modelId": "m",
        "system": [{"text": "Be brief."}],
        "messages": [
            {"role": "user", "content": [{"text": "What is this?"}, {"image": {"format": "png", "source": {"bytes": b"\x89PNG\r\n\x1a\n"}}}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "call_1", "content": [{"text": "22C"}]}}]},
        ],
        "inferenceConfig": {"maxTokens": 100, "temperature": 0.5, "stopSequences": ["END"]},
        "additionalModelRequestFields": {"top_k": 3},
        "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "description": "The weather",
                                               "inputSchema": {"json": TOOL["function"]["parameters"]}}}]},
    }  # fmt: skip
    auto = build_converse_arguments(_request("bedrock", "m", [{"role": "user", "content": "hi"}], tools=[TOOL], tool_choice="auto"))
    assert auto["toolConfig"]["toolChoice"] == {"auto": {}} and "system" not in auto and "inferenceConfig" not in auto
    with pytest.raises(BadRequestError):
        build_converse_arguments(_request("bedrock", "m", [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]))


def test_gemini_config_and_contents() -> None:
    config = build_config(_request("google", "gemini-2.5-flash", parameters={"temperature": 0.1, "max_tokens": 20,
                                                                            "stop": "END", "safetySettings": []},
                                   tools=[TOOL], tool_choice="none",
                                   response_format={"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}),
                          "Be brief.")  # fmt: skip
    extra = config.pop("http_options")
    assert extra.extra_body == {"safetySettings": []}  # what the config has no field for: the REST body
    calling = config.pop("tool_config").function_calling_config
    assert (calling.mode.value, calling.allowed_function_names) == ("NONE", None)
    assert config == {"temperature": 0.1, "max_output_tokens": 20, "stop_sequences": ["END"], "system_instruction": "Be brief.",
                      "tools": config["tools"], "response_mime_type": "application/json",
                      "response_json_schema": {"type": "object"}}  # fmt: skip
    contents = [c.model_dump(exclude_none=True) for c in build_contents(CONVERSATION[1:])]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[0]["parts"][1] == {"inline_data": {"mime_type": "image/png", "data": b"\x89PNG\r\n\x1a\n"}}
    assert contents[1]["parts"] == [{"function_call": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}}]
    assert contents[2]["parts"] == [{"function_response": {"id": "call_1", "name": "get_weather", "response": {"result": "22C"}}}]


def test_ollama_options_and_messages() -> None:
    options, arguments = build_options(_request("ollama", "llama3.2", parameters={"max_tokens": 9, "stop": "END", "top_k": 4},
                                                response_format={"type": "json_object"}))  # fmt: skip
    assert options == {"num_predict": 9, "stop": ["END"], "top_k": 4} and arguments == {"format": "json"}
    schema = {"type": "object"}
    assert build_options(_request("ollama", "llama3.2", response_format={"type": "json_schema", "json_schema": {"schema": schema}}))[1] == {
        "format": schema}
    assert build_messages([{"role": "developer", "content": "Be brief."}, *CONVERSATION[1:]]) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is this?", "images": [PNG]},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "22C", "tool_name": "get_weather"},
    ]  # fmt: skip


def test_anthropic_events_where_fields_are_missing() -> None:
    t = AnthropicTranslator()
    # no "type" in the data: the SSE event name says what it is
    assert list(t.translate("message_start", {"message": {"id": "m", "model": "c", "usage": {"input_tokens": 7}}})) == [
        ResponseInfo("c", "m")]
    assert list(t.translate("content_block_start", {"content_block": {"type": "text", "text": "Hi"}})) == [TextDelta("Hi")]
    assert list(t.translate("content_block_delta", {"delta": {"type": "text_delta", "text": ""}})) == []
    assert list(t.translate("content_block_delta", {"delta": {"type": "signature_delta", "text": "x"}})) == []
    assert list(t.translate("content_block_start", {"content_block": {"type": "tool_use", "id": "t", "name": "f"}})) == [
        ToolCallDelta(0, "t", "f", "")]  # at index 0 when the index is left out
    assert list(t.translate("content_block_delta", {"delta": {"type": "input_json_delta"}})) == [ToolCallDelta(0, None, None, "")]
    assert list(t.translate("message_delta", {"delta": {"stop_reason": "a_new_reason"}, "usage": {"output_tokens": 3}})) == [
        Finish("stop")]  # a reason this gateway has no word for
    assert list(t.translate("message_delta", {"delta": {}})) == []
    assert list(t.translate("message_stop", {})) == [Usage(input_tokens=7, output_tokens=3)]  # counts kept from before
    with pytest.raises(UpstreamError) as caught:
        list(t.translate("error", {"error": {"message": "m"}}))
    assert caught.value.message == "upstream stream error (api_error): m" and caught.value.retryable is True


def test_anthropic_tool_choice_and_images_by_url() -> None:
    def body(**fields: Any) -> dict:
        return build_messages_body(_request("anthropic", "claude-sonnet-4-5", [{"role": "user", "content": "hi"}], **fields))

    assert "tool_choice" not in body(tools=[TOOL])
    assert [body(tools=[TOOL], tool_choice=c)["tool_choice"] for c in ("auto", "required", "none")] == [
        {"type": "auto"}, {"type": "any"}, {"type": "none"}]
    assert body(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "f"}})["tool_choice"] == {
        "type": "tool", "name": "f"}
    no_schema = {"type": "function", "function": {"name": "g"}}
    assert body(tools=[no_schema])["tools"] == [{"name": "g", "description": "", "input_schema": {"type": "object", "properties": {}}}]
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]}]
    assert build_messages_body(_request("anthropic", "claude-sonnet-4-5", image))["messages"] == [
        {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/cat.png"}}]}]
    assert body(parameters={"stop": ["a", "b"]})["stop_sequences"] == ["a", "b"]


def test_gemini_config_for_each_tool_choice_and_format() -> None:
    def config(**fields: Any) -> dict:
        return build_config(_request("google", "gemini-2.5-flash", [{"role": "user", "content": "hi"}], **fields), None)

    def calling(choice: Any) -> tuple:
        c = config(tools=[TOOL], tool_choice=choice)["tool_config"].function_calling_config
        return c.mode.value, c.allowed_function_names

    assert [calling(c) for c in ("auto", "required", "none")] == [("AUTO", None), ("ANY", None), ("NONE", None)]
    assert calling({"type": "function", "function": {"name": "get_weather"}}) == ("ANY", ["get_weather"])
    assert "tool_config" not in config(tools=[TOOL])
    assert config(tools=[TOOL])["tools"] == [{"function_declarations": [
        {"name": "get_weather", "description": "The weather", "parameters_json_schema": TOOL["function"]["parameters"]}]}]
    assert config(tools=[{"type": "function", "function": {"name": "g"}}])["tools"][0]["function_declarations"] == [
        {"name": "g", "description": "", "parameters_json_schema": {"type": "object"}}]
    json_mode = config(response_format={"type": "json_object"})
    assert json_mode == {"response_mime_type": "application/json"}
    assert config(parameters={"stop": ["a"], "top_k": 3, "seed": 1}) == {"stop_sequences": ["a"], "top_k": 3, "seed": 1}
    assert config() == {}


def test_the_translation_guard() -> None:
    assert checked([TextDelta("a"), ToolCallDelta(0, None, None, ""), Usage(1, 2), Finish("stop"), ResponseInfo()]) == [
        TextDelta("a"), ToolCallDelta(0, None, None, ""), Usage(1, 2), Finish("stop"), ResponseInfo()]
    for odd in (TextDelta(["a"]), ToolCallDelta("0"), ToolCallDelta(True), Usage(1, None), Usage(True, 1),  # type: ignore[arg-type]
                Finish(None), ResponseInfo(model=3)):  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            checked([odd])
    for below_zero in (Usage(-1, 2), Usage(1, 2, cached_tokens=-3), ToolCallDelta(-1)):  # a vendor's count cannot run backwards
        with pytest.raises(ValueError):
            checked([below_zero])
    with pytest.raises(UpstreamError) as caught:
        with translating():
            {}["missing"]
    assert (caught.value.status_code, caught.value.error_type) == (502, "upstream_protocol_error")
    assert caught.value.message == "the upstream's answer could not be read (KeyError)"
    with pytest.raises(ZeroDivisionError):  # not a shape error: not the vendor's
        with translating():
            1 / 0


async def test_what_the_sdk_cannot_parse_is_the_vendors() -> None:
    async def items() -> Any:
        yield 1
        raise AttributeError("'NoneType' object has no attribute 'get'")

    seen = []
    with pytest.raises(UpstreamError) as caught:
        async for item in parsed_by_the_sdk(items()):
            seen.append(item)
    assert seen == [1] and caught.value.error_type == "upstream_protocol_error"

    class Iterable:  # botocore's event streams are iterables, not iterators
        def __aiter__(self) -> Any:
            return items()

    with pytest.raises(UpstreamError):
        [item async for item in parsed_by_the_sdk(Iterable())]

    async def failing_transport() -> Any:
        yield 1
        raise ConnectionError("reset")

    with pytest.raises(ConnectionError):  # the SDK's own errors pass through
        [item async for item in parsed_by_the_sdk(failing_transport())]


def test_openai_responses_stream() -> None:
    from llmgateway.providers.openai_responses import ResponsesTranslator

    t = ResponsesTranslator()
    created = {"type": "response.created", "response": {"id": "resp_1", "model": "gpt-4o-mini-2024-07-18", "service_tier": "default"}}
    assert list(t.translate(created)) == [ResponseInfo("gpt-4o-mini-2024-07-18", "resp_1", None, "default")]
    assert list(t.translate({"type": "response.reasoning_summary_text.delta", "delta": "hmm"})) == [ReasoningDelta("hmm")]
    assert list(t.translate({"type": "response.output_text.delta", "delta": "Hi"})) == [TextDelta("Hi")]
    assert list(t.translate({"type": "response.output_text.delta", "delta": ""})) == []
    item = {"type": "function_call", "id": "fc_9", "call_id": "call_9", "name": "get_weather", "arguments": ""}
    assert list(t.translate({"type": "response.output_item.added", "item": item})) == [ToolCallDelta(0, "call_9", "get_weather", "")]
    message = {"type": "message", "id": "msg_1"}
    assert list(t.translate({"type": "response.output_item.added", "item": message})) == []
    assert list(t.translate({"type": "response.function_call_arguments.delta", "item_id": "fc_9", "delta": '{"a"'})) == [
        ToolCallDelta(0, None, None, '{"a"')]
    usage = {"input_tokens": 30, "input_tokens_details": {"cached_tokens": 10}, "output_tokens": 20,
             "output_tokens_details": {"reasoning_tokens": 5}}  # fmt: skip
    assert list(t.translate({"type": "response.completed", "response": {"usage": usage}})) == [
        Usage(30, 20, cached_tokens=10, reasoning_tokens=5), Finish("tool_calls")]
    plain = ResponsesTranslator()
    assert list(plain.translate({"type": "response.completed", "response": {"usage": usage}}))[-1] == Finish("stop")
    cut = {"type": "response.incomplete", "response": {"usage": usage, "incomplete_details": {"reason": "content_filter"}}}
    assert list(plain.translate(cut))[-1] == Finish("content_filter")
    with pytest.raises(UpstreamError, match="overloaded"):
        list(plain.translate({"type": "response.failed", "response": {"error": {"code": "server_error", "message": "overloaded"}}}))
    with pytest.raises(UpstreamError, match="bad"):
        list(plain.translate({"type": "error", "code": "x", "message": "bad"}))


def test_events_arrive_whole_however_the_socket_cuts_them() -> None:
    """A line cut between chunks (inside a character of several bytes, between `\\r` and
    `\\n`) arrives once, whole; the stream's end completes a last event without its blank line."""
    body = 'event: delta\r\ndata: {"text": "né"}\r\n\r\n: a comment\ndata: [DONE]\n\ndata: a\ndata: b'.encode()
    at = body.index("é".encode())
    cuts = [body[: at + 1], body[at + 1 : at + 4], body[at + 4 : at + 5], body[at + 5 :]]
    assert b"".join(cuts) == body and cuts[2] == b"\r" and cuts[3].startswith(b"\n")
    decoder = SSEDecoder()
    events = [event for chunk in cuts for event in decoder.feed(chunk)] + decoder.end()
    assert events == [ServerSentEvent("delta", '{"text": "né"}'), ServerSentEvent("message", "[DONE]"),
                      ServerSentEvent("message", "a\nb")]  # fmt: skip
