"""The emulators, read by the vendors' own SDKs, streaming and not: what the SDK parses from
them is what it would parse from the vendor (the gateway's tests then rely on it)."""

from __future__ import annotations

import anthropic
import ollama
import openai
import pytest

from tests.emulators.base import DEFAULT_REPLY, VALID_KEY


def test_openai_sdk_reads_the_emulator_streaming_and_not(openai_emulator) -> None:
    client = openai.OpenAI(base_url=openai_emulator.base_url, api_key=VALID_KEY, max_retries=0)
    whole = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert whole.choices[0].message.content == DEFAULT_REPLY and whole.choices[0].finish_reason == "stop"
    assert whole.usage.completion_tokens == 12 and whole.model == "gpt-4o-mini-2024-07-18"
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
                                            stream_options={"include_usage": True})  # fmt: skip
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == DEFAULT_REPLY
    assert chunks[-1].usage.completion_tokens == 12
    assert [body.get("stream", False) for body in openai_emulator.requests] == [False, True]


def test_openai_sdk_reads_the_responses_emulator_streaming_and_not(openai_emulator) -> None:
    client = openai.OpenAI(base_url=openai_emulator.base_url, api_key=VALID_KEY, max_retries=0)
    whole = client.responses.create(model="gpt-4o-mini", input="hi there")
    assert whole.output_text == DEFAULT_REPLY and whole.status == "completed" and whole.model == "gpt-4o-mini-2024-07-18"
    assert (whole.usage.input_tokens, whole.usage.output_tokens) == (5 + 2, 12)
    with client.responses.stream(model="gpt-4o-mini", input="hi there") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == DEFAULT_REPLY == final.output_text and final.usage.total_tokens == 7 + 12
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
    with client.responses.stream(model="gpt-4o-mini", input="weather?", tools=[tool]) as stream:
        called = stream.get_final_response()
    assert [(i.type, i.name, i.arguments) for i in called.output] == [("function_call", "get_weather", '{"location":"Paris"}')]
    openai_emulator.thinking = "Let me think."
    reasoned = client.responses.create(model="o4-mini", input="hi")
    assert [i.type for i in reasoned.output] == ["reasoning", "message"] and reasoned.usage.output_tokens_details.reasoning_tokens == 3
    assert [body.get("stream", False) for body in openai_emulator.requests] == [False, True, True, False]


def test_anthropic_sdk_reads_the_emulator_streaming_and_not(anthropic_emulator) -> None:
    client = anthropic.Anthropic(base_url=anthropic_emulator.base_url, auth_token=VALID_KEY, max_retries=0,
                                 default_headers={"anthropic-version": "2023-06-01"})  # fmt: skip
    whole = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    assert whole.content[0].text == DEFAULT_REPLY and whole.stop_reason == "end_turn"
    assert (whole.usage.input_tokens, whole.usage.output_tokens) == (25, 12)
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == DEFAULT_REPLY and final.usage.output_tokens == 12 and final.stop_reason == "end_turn"
    refused = anthropic.Anthropic(base_url=anthropic_emulator.base_url, auth_token=VALID_KEY, max_retries=0,
                                  default_headers={"anthropic-version": "1999-01-01"})  # fmt: skip
    with pytest.raises(anthropic.BadRequestError, match="anthropic-version"):
        refused.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}])


def test_ollama_sdk_reads_the_emulator_streaming_and_not(ollama_emulator) -> None:
    client = ollama.Client(host=ollama_emulator.base_url)
    whole = client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=False)
    assert whole.message.content == DEFAULT_REPLY and whole.done and whole.eval_count == 12
    parts = list(client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert "".join(p.message.content for p in parts) == DEFAULT_REPLY and parts[-1].done_reason == "stop"
