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

from llmgateway.errors import UpstreamError
from llmgateway.providers.anthropic import StreamTranslator as AnthropicTranslator
from llmgateway.providers.bedrock import translate_event
from llmgateway.providers.google import StreamTranslator as GeminiTranslator
from llmgateway.providers.ollama import translate_part
from llmgateway.providers.openai import translate_chunk
from llmgateway.vocabulary.events import Finish, ResponseInfo, TextDelta, ToolCallDelta, Usage


def test_openai_chunks() -> None:
    assert list(translate_chunk({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})) == []
    assert list(translate_chunk({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]})) == [
        TextDelta("Hi")]
    assert list(translate_chunk({"choices": [{"index": 0, "delta": {"refusal": "No."}}]})) == [TextDelta("No.")]
    assert list(translate_chunk({"choices": [{"index": 1, "delta": {"content": "other choice"}}]})) == []
    assert list(translate_chunk({"choices": [{"delta": {"reasoning_content": "hmm"}}]})) == []  # thinking is not output
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
                                                    "delta": {"type": "thinking_delta", "thinking": "hmm"}})) == []
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
           "usage": {"input_tokens": 10, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 20, "output_tokens": 42}}
    assert list(t.translate("message_delta", end)) == [Finish("tool_calls")]
    assert list(t.translate("message_stop", {"type": "message_stop"})) == [
        Usage(input_tokens=35, output_tokens=42, cached_tokens=20, cache_write_tokens=5)]


@pytest.mark.parametrize(("stop_reason", "finish"), [("end_turn", "stop"), ("max_tokens", "length"),
                                                     ("stop_sequence", "stop"), ("tool_use", "tool_calls")])  # fmt: skip
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
    assert translate_part(_ollama({"role": "assistant", "content": "", "thinking": "hmm"}), 0) == []
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
