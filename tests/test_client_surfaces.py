"""Anthropic's Messages API and OpenAI's Responses API in front of every provider, driven by
the vendors' own SDKs (and LangChain's ChatAnthropic): whatever the SDK parses, it parses
from the gateway's answers and events; what reaches each upstream is read off its emulator.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Callable

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.emulators.base import DEFAULT_REPLY, VALID_KEY, Fault

# The model each provider answers with behind the gateway, and the input tokens its emulator
# reports for a one-message prompt of `PROMPT` (each vendor counts its own way).
TARGETS = {
    "anthropic": ("anthropic/claude-haiku-4-5", 25),
    "openai": ("openai/gpt-4o-mini", 7 + 4),  # OpenAI's emulator: 7 plus a token per word
    "google": ("google/gemini-2.5-flash", 9),
    "ollama": ("ollama/llama3.2", 26),
    "compatible": ("compatible/llama-3.1-8b", 7 + 4),  # the OpenAI emulator's Chat Completions
}
PROMPT = "Hello, who are you?"
WEATHER_TOOL = {"name": "get_weather", "description": "The weather in a city",
                "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}}  # fmt: skip
EMULATORS = {"anthropic": "anthropic_emulator", "openai": "openai_emulator", "google": "gemini_emulator",
             "ollama": "ollama_emulator", "compatible": "openai_emulator"}  # fmt: skip


@pytest.fixture
def base_url(
    gateway_factory: Callable[..., str], tmp_path: Path, openai_emulator: Any, anthropic_emulator: Any, gemini_emulator: Any,
    ollama_emulator: Any, monkeypatch: pytest.MonkeyPatch,
) -> str:  # fmt: skip
    """A gateway with the emulators behind it, and `compatible`: an OpenAI-compatible server
    (Chat Completions only, as a team's vLLM), on the OpenAI emulator."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "providers:\n  compatible:\n    name: Compatible\n    adapter: openai\n"
        f"    base_url: {openai_emulator.base_url}\n    api_key_env: COMPATIBLE_API_KEY\n"
        "    models:\n      llama-3.1-8b: {context_window: 131072, input_cost_per_token: 1.0e-07, output_cost_per_token: 2.0e-07}\n"
    )  # fmt: skip
    monkeypatch.setenv("COMPATIBLE_API_KEY", VALID_KEY)
    return gateway_factory(catalog=catalog)


def _emulator(request: pytest.FixtureRequest, provider: str) -> Any:
    return request.getfixturevalue(EMULATORS[provider])


def _sse_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each server-sent event, in order."""
    events = []
    for block in response.text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], orjson.loads(lines["data"])))
    return events


def _logs(base_url: str) -> list[dict[str, Any]]:
    return httpx.get(base_url + "/api/tracking/logs").json()


# --- Anthropic's Messages API ---------------------------------------------------------------


@pytest.fixture
def claude(base_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key="gateway-key", max_retries=0)


@pytest.mark.parametrize("provider", ["anthropic", "openai", "google", "ollama"])
def test_messages_create_through_every_provider(claude: anthropic.Anthropic, base_url: str, provider: str) -> None:
    model, input_tokens = TARGETS[provider]
    raw = claude.messages.with_raw_response.create(model=model, max_tokens=100, system="Be brief.",
                                                   messages=[{"role": "user", "content": PROMPT}])  # fmt: skip
    message = raw.parse()
    assert [(b.type, b.text) for b in message.content] == [("text", DEFAULT_REPLY)]
    assert message.stop_reason == "end_turn" and message.role == "assistant"
    assert message.id == "msg_" + raw.headers["x-llmgateway-request-id"].replace("-", "")
    assert message.usage.output_tokens == 12 == int(raw.headers["x-llmgateway-output-tokens"])
    expected_input = input_tokens + (2 if provider == "openai" else 0)  # OpenAI's counts the system prompt's words
    assert message.usage.input_tokens == expected_input == int(raw.headers["x-llmgateway-input-tokens"])
    assert raw.headers["x-llmgateway-provider"] == provider
    [record] = _logs(base_url)
    assert (record["surface"], record["provider"], record["chat_output"]) == ("anthropic", provider, DEFAULT_REPLY)


@pytest.mark.parametrize("provider", ["anthropic", "openai", "google", "ollama"])
def test_messages_stream_in_anthropics_event_order(claude: anthropic.Anthropic, base_url: str, provider: str) -> None:
    model, _ = TARGETS[provider]
    with claude.messages.stream(model=model, max_tokens=100, messages=[{"role": "user", "content": PROMPT}]) as stream:
        assert "".join(stream.text_stream) == DEFAULT_REPLY
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 12
    body = {"model": model, "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
    events = _sse_events(httpx.post(base_url + "/v1/messages", json=body))
    names = [name for name, _ in events]
    assert names == ["message_start", "content_block_start", "ping", *["content_block_delta"] * 12,
                     "content_block_stop", "message_delta", "message_stop"]  # fmt: skip
    assert all(name == data["type"] for name, data in events)
    assert events[1][1]["content_block"] == {"type": "text", "text": ""}
    assert "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta") == DEFAULT_REPLY
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn" and events[-2][1]["usage"]["output_tokens"] == 12


@pytest.mark.parametrize("provider", ["anthropic", "openai", "google", "ollama"])
def test_messages_tool_use_round_trip(claude: anthropic.Anthropic, request: pytest.FixtureRequest, provider: str) -> None:
    model, _ = TARGETS[provider]
    emulator = _emulator(request, provider)
    question = {"role": "user", "content": "Weather in Paris?"}
    message = claude.messages.create(model=model, max_tokens=100, tools=[WEATHER_TOOL], messages=[question])
    assert message.stop_reason == "tool_use"
    [use] = message.content
    assert (use.type, use.name, use.input) == ("tool_use", "get_weather", {"location": "Paris"})
    with claude.messages.stream(model=model, max_tokens=100, tools=[WEATHER_TOOL], messages=[question]) as stream:
        kinds = [e.delta.type for e in stream if e.type == "content_block_delta"]
        streamed = stream.get_final_message()
    assert kinds and set(kinds) == {"input_json_delta"}
    assert [(b.type, b.name, b.input) for b in streamed.content] == [("tool_use", "get_weather", {"location": "Paris"})]
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18 degrees"}]}
    answer = claude.messages.create(model=model, max_tokens=100, messages=[question, {"role": "assistant",
                                    "content": [use.model_dump(include={"type", "id", "name", "input"})]}, result])  # fmt: skip
    assert answer.content[0].text == DEFAULT_REPLY
    upstream = orjson.dumps(emulator.requests[-1]).decode()
    assert "18 degrees" in upstream and "get_weather" in upstream  # the call and its result reached the vendor


@pytest.mark.parametrize("provider", ["anthropic", "openai", "ollama"])
def test_thinking_reaches_messages_clients_as_thinking_blocks(
    claude: anthropic.Anthropic, base_url: str, request: pytest.FixtureRequest, provider: str
) -> None:
    """Reasoning the upstream streams (Anthropic's thinking with its signature, DeepSeek-style
    `reasoning_content`, Ollama's `thinking`) is a thinking block before the text, streamed and not."""
    emulator = _emulator(request, provider)
    emulator.thinking = "Let me think about who I am."
    model, _ = TARGETS[provider]
    signature = {"anthropic": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pk"}.get(provider, "")
    message = claude.messages.create(model=model, max_tokens=100, messages=[{"role": "user", "content": PROMPT}])
    assert [(b.type, getattr(b, "thinking", None) or b.text) for b in message.content] == [
        ("thinking", "Let me think about who I am."), ("text", DEFAULT_REPLY)]
    assert message.content[0].signature == signature
    body = {"model": model, "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
    events = _sse_events(httpx.post(base_url + "/v1/messages", json=body))
    starts = [data["content_block"]["type"] for name, data in events if name == "content_block_start"]
    assert starts == ["thinking", "text"] and [name for name, _ in events][:3] == ["message_start", "content_block_start", "ping"]
    deltas = [data["delta"] for name, data in events if name == "content_block_delta" and data["index"] == 0]
    assert "".join(d.get("thinking", "") for d in deltas) == "Let me think about who I am."
    assert [d["signature"] for d in deltas if d["type"] == "signature_delta"] == ([signature] if signature else [])
    # the engine API's answer is unchanged: the reasoning stays out of it
    engine = httpx.post(base_url + f"/api/engine/chat/{provider}", json={"model": model.split("/", 1)[1], "chat_input": PROMPT})
    assert engine.json()["chat_output"] == DEFAULT_REPLY


def test_messages_translation_reaches_an_openai_upstream(claude: anthropic.Anthropic, openai_emulator: Any) -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris"}}
    claude.messages.create(
        model="openai/gpt-4o-mini", max_tokens=50, stop_sequences=["END"], extra_body={"temperature": 0.5},
        system=[{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use metric."}],
        tools=[WEATHER_TOOL], tool_choice={"type": "tool", "name": "get_weather"},
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Weather here?"},
                                         {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Checking."}, tool_use]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C"},
                                         {"type": "text", "text": "And tomorrow?"}]},
        ],
    )  # fmt: skip
    sent = openai_emulator.requests[-1]
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief.\n\nUse metric."},
        {"role": "user", "content": [{"type": "text", "text": "Weather here?"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18 C"},
        {"role": "user", "content": "And tomorrow?"},
    ]  # fmt: skip
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["tools"][0]["function"]["parameters"] == WEATHER_TOOL["input_schema"]
    assert (sent["stop"], sent["temperature"], sent["max_completion_tokens"]) == (["END"], 0.5, 50)


def test_messages_reach_anthropic_as_the_client_sent_them(claude: anthropic.Anthropic, anthropic_emulator: Any) -> None:
    """What the gateway does not translate (cache_control, metadata, thinking) still reaches
    Anthropic: an Anthropic target gets the client's own body, with the target's model."""
    system = [{"type": "text", "text": "A long, cached system prompt.", "cache_control": {"type": "ephemeral"}}]
    claude.messages.create(model="claude-haiku-4-5", max_tokens=60, system=system, metadata={"user_id": "u-1"},
                           messages=[{"role": "user", "content": PROMPT}])  # fmt: skip
    sent = anthropic_emulator.requests[-1]
    assert sent["system"] == system and sent["metadata"] == {"user_id": "u-1"}
    assert (sent["model"], sent["stream"], sent["max_tokens"]) == ("claude-haiku-4-5", True, 60)


def test_only_allowed_betas_reach_anthropic(claude: anthropic.Anthropic, anthropic_emulator: Any) -> None:
    """Upstream headers come from the server: a client's `anthropic-beta` only picks among the
    catalog's allowed betas, so nothing else it writes there reaches Anthropic."""
    asked = "made-up-beta, context-1m-2025-08-07,x-api-key: stolen"
    claude.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": PROMPT}],
                           extra_headers={"anthropic-beta": asked})  # fmt: skip
    assert anthropic_emulator.headers[-1]["anthropic-beta"] == "context-1m-2025-08-07"
    claude.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": PROMPT}],
                           extra_headers={"anthropic-beta": "made-up-beta"})  # fmt: skip
    assert "anthropic-beta" not in anthropic_emulator.headers[-1]


def test_messages_errors_in_anthropics_shape(claude: anthropic.Anthropic, base_url: str, anthropic_emulator: Any) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.messages.create(model="nowhere/model", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert missing.value.body == {"type": "error", "error": {"type": "not_found_error", "code": "model_not_found",
                                                             "message": missing.value.body["error"]["message"]}}  # fmt: skip
    invalid = httpx.post(base_url + "/v1/messages", json={"model": "anthropic/claude-haiku-4-5", "messages": []})
    assert invalid.status_code == 400 and invalid.json()["error"]["type"] == "invalid_request_error"
    assert invalid.json()["type"] == "error"
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}
    with pytest.raises(anthropic.BadRequestError, match="document"):
        claude.messages.create(model="openai/gpt-4o-mini", max_tokens=5, messages=[{"role": "user", "content": [document]}])
    anthropic_emulator.faults.append(Fault("midstream_error", after_chunks=3, message="Overloaded"))
    body = {"model": "anthropic/claude-haiku-4-5", "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": PROMPT}]}  # fmt: skip
    events = _sse_events(httpx.post(base_url + "/v1/messages", json=body))
    assert events[-1] == ("error", {"type": "error", "error": {"type": "api_error", "code": "upstream_stream_error",
                                                               "message": events[-1][1]["error"]["message"]}})  # fmt: skip
    assert "Overloaded" in events[-1][1]["error"]["message"]


def test_messages_refusals_by_virtual_key_in_anthropics_shape(gateway_factory: Callable[..., str]) -> None:
    url = gateway_factory(master_key="sk-master-0123456789")
    forged = anthropic.Anthropic(base_url=url, api_key="lgw-forged", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        forged.messages.create(model="mock/echo", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert refused.value.body["type"] == "error" and refused.value.body["error"]["type"] == "authentication_error"


def test_count_tokens_is_an_estimate_and_says_so(base_url: str) -> None:
    claude = anthropic.Anthropic(base_url=base_url, api_key="gateway-key", max_retries=0)
    raw = claude.messages.with_raw_response.count_tokens(model="openai/gpt-4o-mini",
                                                         messages=[{"role": "user", "content": PROMPT}])  # fmt: skip
    # OpenAI's documented count: 3 per message + the role + the text, plus 3 priming the reply
    assert raw.parse().input_tokens == 3 + 1 + 6 + 3
    assert raw.headers["x-llmgateway-tokens-estimated"] == "true"


def test_langchain_chat_anthropic_through_the_gateway(base_url: str) -> None:
    from langchain_anthropic import ChatAnthropic

    chat = ChatAnthropic(model="openai/gpt-4o-mini", base_url=base_url, api_key="gateway-key", max_retries=0)
    assert chat.invoke(PROMPT).content == DEFAULT_REPLY
    assert "".join(chunk.text for chunk in chat.stream(PROMPT)) == DEFAULT_REPLY


# --- OpenAI's Responses API -----------------------------------------------------------------

# OpenAI gets a Responses client's own body at /responses (its emulator counts 5 plus a token a
# word of the input); the others, an OpenAI-compatible server among them, the translation.
RESPONSES_TARGETS = ["openai", "anthropic", "google", "compatible"]
RESPONSES_INPUT_TOKENS = {"openai": 5 + 4}
FUNCTION_TOOL = {"type": "function", "name": "get_weather", "description": "The weather in a city",
                 "parameters": WEATHER_TOOL["input_schema"]}  # fmt: skip


@pytest.fixture
def sdk(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key="gateway-key", max_retries=0)


@pytest.mark.parametrize("provider", RESPONSES_TARGETS)
def test_responses_create_through_every_provider(sdk: openai.OpenAI, base_url: str, provider: str) -> None:
    model, input_tokens = TARGETS[provider]
    input_tokens = RESPONSES_INPUT_TOKENS.get(provider, input_tokens)
    raw = sdk.responses.with_raw_response.create(model=model, input=PROMPT)
    response = raw.parse()
    assert response.output_text == DEFAULT_REPLY and response.status == "completed"
    assert [item.type for item in response.output] == ["message"]
    assert response.usage.output_tokens == 12 == int(raw.headers["x-llmgateway-output-tokens"])
    assert response.usage.input_tokens == input_tokens == int(raw.headers["x-llmgateway-input-tokens"])
    assert response.usage.total_tokens == input_tokens + 12
    [record] = _logs(base_url)
    assert (record["surface"], record["provider"], record["session_id"]) == ("responses", provider, response.id)


@pytest.mark.parametrize("provider", RESPONSES_TARGETS)
def test_responses_stream_in_openais_event_order(sdk: openai.OpenAI, base_url: str, provider: str) -> None:
    model, _ = TARGETS[provider]
    with sdk.responses.stream(model=model, input=PROMPT) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == DEFAULT_REPLY == final.output_text
    events = _sse_events(httpx.post(base_url + "/v1/responses", json={"model": model, "input": PROMPT, "stream": True}))
    assert [name for name, _ in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * 12, "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed"]  # fmt: skip
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert events[-1][1]["response"]["usage"]["output_tokens"] == 12


@pytest.mark.parametrize("provider", RESPONSES_TARGETS)
def test_responses_function_call_round_trip(sdk: openai.OpenAI, request: pytest.FixtureRequest, provider: str) -> None:
    model, _ = TARGETS[provider]
    emulator = _emulator(request, provider)
    response = sdk.responses.create(model=model, input="Weather in Paris?", tools=[FUNCTION_TOOL])
    [call] = response.output
    assert (call.type, call.name, orjson.loads(call.arguments)) == ("function_call", "get_weather", {"location": "Paris"})
    with sdk.responses.stream(model=model, input="Weather in Paris?", tools=[FUNCTION_TOOL]) as stream:
        kinds = [e.type for e in stream]
        streamed = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    assert orjson.loads(streamed.output[0].arguments) == {"location": "Paris"}
    follow_up = sdk.responses.create(model=model, input=[
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "18 degrees"},
    ])  # fmt: skip
    assert follow_up.output_text == DEFAULT_REPLY
    upstream = orjson.dumps(emulator.requests[-1]).decode()
    assert "18 degrees" in upstream and "get_weather" in upstream


def test_parallel_function_calls_stream_one_item_after_the_other(sdk: openai.OpenAI) -> None:
    second_tool = FUNCTION_TOOL | {"name": "get_time"}
    with sdk.responses.stream(model="compatible/llama-3.1-8b", input="Weather and time?", tools=[FUNCTION_TOOL, second_tool]) as stream:
        added = [e.item.name for e in stream if e.type == "response.output_item.added"]
        final = stream.get_final_response()
    assert added == ["get_weather", "get_time"]
    assert [(i.name, orjson.loads(i.arguments)) for i in final.output] == [("get_weather", {"location": "Paris"}),
                                                                           ("get_time", {"location": "Paris"})]  # fmt: skip


def test_responses_reach_openai_as_the_client_sent_them(sdk: openai.OpenAI, openai_emulator: Any) -> None:
    """What the gateway does not model (reasoning summaries, include, truncation, metadata)
    still reaches OpenAI: its `/responses` gets the client's own body; the gateway keeps the
    conversation, so OpenAI is asked not to store it."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}
    text = {"format": {"type": "json_schema", "name": "place", "schema": schema, "strict": True}}
    openai_emulator.thinking = "Where is it, again?"
    response = sdk.responses.create(model="openai/gpt-4o-mini", instructions="Answer in JSON.", input="Where is the Louvre?",
                                    text=text, max_output_tokens=40, reasoning={"effort": "low", "summary": "auto"},
                                    include=["reasoning.encrypted_content"], metadata={"team": "a"}, truncation="auto")  # fmt: skip
    assert openai_emulator.paths[-1] == "/v1/responses"
    sent = openai_emulator.requests[-1]
    assert (sent["instructions"], sent["input"], sent["text"], sent["max_output_tokens"]) == (
        "Answer in JSON.", "Where is the Louvre?", text, 40)
    assert (sent["reasoning"], sent["include"], sent["metadata"], sent["truncation"]) == (
        {"effort": "low", "summary": "auto"}, ["reasoning.encrypted_content"], {"team": "a"}, "auto")
    assert (sent["stream"], sent["store"], sent["model"]) == (True, False, "gpt-4o-mini")
    assert response.output_text == DEFAULT_REPLY and response.usage.output_tokens_details.reasoning_tokens == 4


@pytest.mark.parametrize("provider", ["anthropic", "google"])
def test_responses_structured_output_reaches_other_vendors_in_their_words(
    sdk: openai.OpenAI, request: pytest.FixtureRequest, provider: str
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}
    emulator = _emulator(request, provider)
    response = sdk.responses.create(model=TARGETS[provider][0], input="Where is the Louvre?",
                                    text={"format": {"type": "json_schema", "name": "place", "schema": schema}})  # fmt: skip
    assert response.status == "completed"
    sent = emulator.requests[-1]
    in_their_words = sent["output_config"]["format"] if provider == "anthropic" else sent["generationConfig"]
    assert in_their_words == ({"type": "json_schema", "schema": schema} if provider == "anthropic" else
                              {**in_their_words, "responseMimeType": "application/json", "responseJsonSchema": schema})  # fmt: skip


def test_responses_structured_output_and_instructions_translate_for_chat_completions(
    sdk: openai.OpenAI, openai_emulator: Any
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}
    sdk.responses.create(model="compatible/llama-3.1-8b", instructions="Answer in JSON.", input="Where is the Louvre?",
                         text={"format": {"type": "json_schema", "name": "place", "schema": schema, "strict": True}},
                         max_output_tokens=40)  # fmt: skip
    assert openai_emulator.paths[-1] == "/v1/chat/completions"
    sent = openai_emulator.requests[-1]
    assert sent["messages"] == [{"role": "system", "content": "Answer in JSON."},
                                {"role": "user", "content": "Where is the Louvre?"}]  # fmt: skip
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {"name": "place", "schema": schema, "strict": True}}
    assert sent.get("max_completion_tokens", sent.get("max_tokens")) == 40


def test_previous_response_id_and_get_work_across_instances(
    gateway_factory: Callable[..., str], tmp_path: Any, openai_emulator: Any
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    first, second = (openai.OpenAI(base_url=gateway_factory(database_url=database) + "/v1", api_key="k", max_retries=0)
                     for _ in range(2))  # fmt: skip
    one = first.responses.create(model="openai/gpt-4o-mini", instructions="Old rules.", input="Remember 42.")
    two = second.responses.create(model="openai/gpt-4o-mini", input="What number?", previous_response_id=one.id)
    assert openai_emulator.requests[-1]["messages"] == [
        {"role": "user", "content": "Remember 42."},
        {"role": "assistant", "content": DEFAULT_REPLY},
        {"role": "user", "content": "What number?"},
    ]  # instructions are not carried over, as OpenAI documents
    fetched = second.responses.retrieve(two.id)  # the instance that served it has written its record
    assert (fetched.id, fetched.output_text, fetched.usage.output_tokens) == (two.id, DEFAULT_REPLY, 12)
    with pytest.raises(openai.NotFoundError):
        second.responses.create(model="openai/gpt-4o-mini", input="x", previous_response_id="resp_unknown")


def test_store_false_keeps_no_content(sdk: openai.OpenAI, base_url: str) -> None:
    response = sdk.responses.create(model="openai/gpt-4o-mini", input="A secret prompt.", store=False)
    assert response.output_text == DEFAULT_REPLY
    [record] = _logs(base_url)
    assert (record["chat_input"], record["chat_output"], record["context"]) == (None, None, None)
    assert record["output_tokens"] == 12 and record["session_id"] is None
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.create(model="openai/gpt-4o-mini", input="x", previous_response_id=response.id)


# --- one pipeline behind four surfaces ------------------------------------------------------


def test_four_surfaces_one_answer_four_records(base_url: str, sdk: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    model = "compatible/llama-3.1-8b"  # Chat Completions behind all four (OpenAI's own /responses counts its own way)
    engine = httpx.post(base_url + "/api/engine/chat/compatible",
                        json={"chat_input": PROMPT, "model": "llama-3.1-8b", "is_stream": False}).json()  # fmt: skip
    chat = sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}])
    message = claude.messages.create(model=model, max_tokens=4096, messages=[{"role": "user", "content": PROMPT}])
    response = sdk.responses.create(model=model, input=PROMPT)
    texts = [engine["chat_output"], chat.choices[0].message.content, message.content[0].text, response.output_text]
    assert texts == [DEFAULT_REPLY] * 4
    records = sorted(_logs(base_url), key=lambda r: r["surface"])
    assert [r["surface"] for r in records] == ["anthropic", "engine", "openai", "responses"]
    numbers = {(r["provider"], r["chat_input"], r["chat_output"], r["input_tokens"], r["output_tokens"], r["cost_usd"],
                r["status"]) for r in records}  # fmt: skip
    assert len(numbers) == 1, numbers


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_claude_code_request_replays_through_the_gateway(base_url: str, request: pytest.FixtureRequest, provider: str) -> None:
    """A Claude Code-shaped request (system blocks and tools with cache_control, a tool round
    trip, metadata, betas, streaming) is answered in order, natively to Anthropic and
    translated to OpenAI."""
    recorded = orjson.loads((Path(__file__).parent / "data" / "claude_code_request.json").read_bytes())
    body = recorded["body"] | ({} if provider == "anthropic" else {"model": "openai/gpt-4o-mini"})
    emulator = _emulator(request, provider)
    emulator.requests.clear()
    response = httpx.post(base_url + "/v1/messages", json=body, headers={**recorded["headers"], "x-api-key": "gateway-key"})
    assert response.status_code == 200, response.text
    events = _sse_events(response)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"] and names[-2:] == ["message_delta", "message_stop"]
    # OpenAI's emulator calls the first two tools in parallel, their fragments interleaved:
    # Anthropic's stream gets them one block after the other, each whole
    expected = ["Bash"] if provider == "anthropic" else ["Bash", "Read"]
    assert [d["content_block"]["name"] for n, d in events if n == "content_block_start"] == expected
    blocks: dict[int, str] = {}
    for name, data in events:
        if name == "content_block_delta":
            blocks[data["index"]] = blocks.get(data["index"], "") + data["delta"]["partial_json"]
    assert [orjson.loads(args) for args in blocks.values()] == [{"location": "Paris"}] * len(expected)
    assert names.count("content_block_start") == names.count("content_block_stop") == len(expected)
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    [sent] = emulator.requests
    if provider == "anthropic":
        assert sent["system"] == body["system"] and sent["tools"] == body["tools"] and sent["messages"] == body["messages"]
        # the betas the catalog allows, of those asked (claude-code-20250219 is not among them)
        assert emulator.headers[-1]["anthropic-beta"] == "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
    else:
        assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool", "user"]
        assert len(sent["tools"]) == len(body["tools"])
