"""One scenario suite, run against every provider through an emulator of its wire format.

Each provider's kit says where its emulator keeps what the gateway sent (system prompt,
image, tool result, schema), so the scenarios themselves stay the same for all.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import httpx
import orjson
import pytest

from tests.conftest import SSE
from tests.emulators.base import DEFAULT_REPLY, EmulatorState, Fault
from tests.test_engine_api import parse_sse

PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
        },
    }
]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


@dataclass
class Kit:
    provider: str
    model: str
    emulator: EmulatorState
    output_tokens: int  # what the emulator reports for the default reply
    system_of: Callable[[dict], Any]
    image_of: Callable[[dict], Any]  # -> (media type, base64 data)
    tool_result_of: Callable[[dict], Any]  # -> (call id, or the function's name, result text)
    schema_of: Callable[[dict], Any] | None  # None: the provider has no structured output


def _openai_user_image(body: dict) -> Any:
    url = body["messages"][-1]["content"][1]["image_url"]["url"]
    media_type, data = url.removeprefix("data:").split(";base64,")
    return media_type, data


def _openai_tool_result(body: dict) -> Any:
    message = body["messages"][-1]
    return message["tool_call_id"], message["content"]


def _anthropic_image(body: dict) -> Any:
    source = body["messages"][-1]["content"][1]["source"]
    return source["media_type"], source["data"]


def _anthropic_tool_result(body: dict) -> Any:
    block = body["messages"][-1]["content"][0]
    return block["tool_use_id"], block["content"]


@pytest.fixture
def client(shared_gateway_url: str) -> Iterator[httpx.Client]:
    """The module's tests share one gateway: they read only what they sent and their own answers."""
    with httpx.Client(base_url=shared_gateway_url, timeout=30) as c:
        yield c


@pytest.fixture
def openai_kit(openai_emulator) -> Kit:
    return Kit(
        provider="openai",
        model="gpt-4o-mini",
        emulator=openai_emulator,
        output_tokens=12,
        system_of=lambda body: body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else None,
        image_of=_openai_user_image,
        tool_result_of=_openai_tool_result,
        schema_of=lambda body: body["response_format"]["json_schema"]["schema"],
    )


@pytest.fixture
def azure_kit(azure_emulator) -> Kit:
    return Kit(
        provider="azure",
        model="my-gpt4o-mini-deployment",
        emulator=azure_emulator,
        output_tokens=12,
        system_of=lambda body: body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else None,
        image_of=_openai_user_image,
        tool_result_of=_openai_tool_result,
        schema_of=lambda body: body["response_format"]["json_schema"]["schema"],
    )


def _gemini_image(body: dict) -> Any:
    inline = body["contents"][-1]["parts"][1]["inlineData"]
    # google-genai writes this one field in snake case; the API reads both spellings
    return inline.get("mimeType") or inline.get("mime_type"), inline["data"]


def _gemini_tool_result(body: dict) -> Any:
    response = body["contents"][-1]["parts"][0]["functionResponse"]
    assert response["name"] == "get_weather"  # Gemini wants the function's name
    return response.get("id"), response["response"]["result"]


@pytest.fixture
def google_kit(gemini_emulator) -> Kit:
    return Kit(
        provider="google",
        model="gemini-2.5-flash",
        emulator=gemini_emulator,
        output_tokens=12,
        system_of=lambda body: body["systemInstruction"]["parts"][0]["text"],
        image_of=_gemini_image,
        tool_result_of=_gemini_tool_result,
        schema_of=lambda body: body["generationConfig"]["responseJsonSchema"],
    )


def _ollama_tool_result(body: dict) -> Any:
    message = body["messages"][-1]
    return message["tool_name"], message["content"]  # Ollama links a result by the function's name


@pytest.fixture
def vertexai_kit(vertex_emulator) -> Kit:
    return Kit(
        provider="vertexai",
        model="gemini-2.5-pro",
        emulator=vertex_emulator,
        output_tokens=12,
        system_of=lambda body: body["systemInstruction"]["parts"][0]["text"],
        image_of=_gemini_image,
        tool_result_of=_gemini_tool_result,
        schema_of=lambda body: body["generationConfig"]["responseJsonSchema"],
    )


@pytest.fixture
def ollama_kit(ollama_emulator) -> Kit:
    return Kit(
        provider="ollama",
        model="llama3.2",
        emulator=ollama_emulator,
        output_tokens=12,
        system_of=lambda body: body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else None,
        image_of=lambda body: ("image/png", body["messages"][-1]["images"][0]),
        tool_result_of=_ollama_tool_result,
        schema_of=lambda body: body["format"],
    )


def _bedrock_image(body: dict) -> Any:
    image = body["messages"][-1]["content"][1]["image"]
    return f"image/{image['format']}", image["source"]["bytes"]  # botocore sends the bytes base64-encoded


def _bedrock_tool_result(body: dict) -> Any:
    result = body["messages"][-1]["content"][0]["toolResult"]
    return result["toolUseId"], result["content"][0]["text"]


@pytest.fixture
def bedrock_kit(bedrock_emulator) -> Kit:
    return Kit(
        provider="bedrock",
        model="anthropic.claude-sonnet-4-5-20250929-v1:0",
        emulator=bedrock_emulator,
        output_tokens=12,
        system_of=lambda body: body["system"][0]["text"],
        image_of=_bedrock_image,
        tool_result_of=_bedrock_tool_result,
        schema_of=None,
    )


@pytest.fixture
def anthropic_kit(anthropic_emulator) -> Kit:
    return Kit(
        provider="anthropic",
        model="claude-sonnet-4-5",
        emulator=anthropic_emulator,
        output_tokens=12,
        system_of=lambda body: body.get("system"),
        image_of=_anthropic_image,
        tool_result_of=_anthropic_tool_result,
        schema_of=lambda body: body["output_config"]["format"]["schema"],
    )


PROVIDERS = ["openai", "azure", "anthropic", "google", "vertexai", "ollama", "bedrock"]


@pytest.fixture(params=PROVIDERS)
def kit(request: pytest.FixtureRequest) -> Kit:
    return request.getfixturevalue(f"{request.param}_kit")


def chat(client: httpx.Client, kit: Kit, **body: Any) -> httpx.Response:
    return client.post(f"/api/engine/chat/{kit.provider}", json={"model": kit.model, **body})


def stream(client: httpx.Client, kit: Kit, **body: Any) -> list[tuple[str, Any]]:
    with client.stream("POST", f"/api/engine/chat/{kit.provider}", headers=SSE, json={"model": kit.model, "is_stream": True, **body}) as r:
        assert r.status_code == 200, r.read()
        return parse_sse(r.read().decode())


def test_simple_chat(client: httpx.Client, kit: Kit) -> None:
    r = chat(client, kit, chat_input="Hello! Who are you?")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["chat_output"] == DEFAULT_REPLY and body["provider"] == kit.provider
    assert body["choices"][0]["finish_reason"] == "stop"
    m = body["metrics"]
    assert m["output_tokens"] == kit.output_tokens and m["tokens_estimated"] is False
    assert m["input_tokens"] > 0 and m["cost_usd"] is not None and m["price_known"] is True
    assert 0 < m["time_to_first_token_s"] <= m["latency_s"]


def test_streamed_chat(client: httpx.Client, kit: Kit) -> None:
    events = stream(client, kit, chat_input="Hi")
    assert events[-1] == ("message", "[DONE]")
    chunks = [d for _, d in events[:-1]]
    assert "".join(c["chat_output_stream"] for c in chunks) == DEFAULT_REPLY
    assert chunks[-1]["metrics"]["output_tokens"] == kit.output_tokens
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def _turns(provider: str, body: dict) -> list[tuple[str, str]]:
    """The (role, text) sequence a vendor received, its system prompt left out, in its own
    words: OpenAI's and Ollama's messages, Anthropic's and Bedrock's content blocks, Gemini's
    contents and parts."""
    if provider in ("google", "vertexai"):
        return [(c["role"], "".join(p.get("text", "") for p in c["parts"])) for c in body["contents"]]
    messages = [m for m in body["messages"] if m["role"] != "system"]
    if provider in ("anthropic", "bedrock"):
        return [(m["role"], "".join(block.get("text", "") for block in m["content"])) for m in messages]
    return [(m["role"], m["content"]) for m in messages]


def test_multi_turn_with_system_prompt(client: httpx.Client, kit: Kit) -> None:
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Second question"},
    ]
    r = chat(client, kit, chat_input=conversation)
    assert r.status_code == 200, r.text
    sent = kit.emulator.requests[-1]
    assert kit.system_of(sent) == "Be brief."
    model_role = "model" if kit.provider in ("google", "vertexai") else "assistant"
    assert _turns(kit.provider, sent) == [("user", "First question"), (model_role, "First answer"),
                                          ("user", "Second question")]  # fmt: skip
    assert r.json()["chat_input"] == "Second question"


def test_tool_call(client: httpx.Client, kit: Kit) -> None:
    r = chat(client, kit, chat_input="Weather in Paris?", tools=TOOLS)
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"]
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"location": "Paris"}


def test_streamed_tool_call(client: httpx.Client, kit: Kit) -> None:
    chunks = [d for _, d in stream(client, kit, chat_input="Weather?", tools=TOOLS)[:-1]]
    fragments = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
    assert fragments[0]["id"] and fragments[0]["function"]["name"] == "get_weather"
    assert orjson.loads("".join(f["function"]["arguments"] for f in fragments)) == {"location": "Paris"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_result_round_trip(client: httpx.Client, kit: Kit) -> None:
    conversation = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'}}],
        },  # fmt: skip
        {"role": "tool", "tool_call_id": "call_1", "content": "22C and sunny"},
    ]
    r = chat(client, kit, chat_input=conversation, tools=TOOLS)
    assert r.status_code == 200, r.text
    reference, text = kit.tool_result_of(kit.emulator.requests[-1])
    # the call's id, except for Ollama, which links a result to its call by the function's name
    assert reference == ("get_weather" if kit.provider == "ollama" else "call_1")
    assert "22C and sunny" in str(text)


def test_image_input(client: httpx.Client, kit: Kit) -> None:
    content = [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
    ]
    r = chat(client, kit, chat_input=[{"role": "user", "content": content}])
    assert r.status_code == 200, r.text
    media_type, data = kit.image_of(kit.emulator.requests[-1])
    assert media_type == "image/png" and base64.b64decode(data) == base64.b64decode(PNG_1PX)
    assert r.json()["chat_input"] == "What is in this image?"


def test_structured_output(client: httpx.Client, kit: Kit) -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}
    r = chat(client, kit, chat_input="Answer in JSON", response_format=response_format)
    if kit.schema_of is None:
        assert r.status_code == 400
        assert "response_format" in r.json()["error"]["message"]
        assert kit.emulator.requests == []  # refused before any vendor call
    else:
        assert r.status_code == 200, r.text
        assert kit.schema_of(kit.emulator.requests[-1]) == SCHEMA


def test_error_mid_stream(client: httpx.Client, kit: Kit) -> None:
    kit.emulator.faults.append(Fault("midstream_error", after_chunks=3, message="Overloaded"))
    events = stream(client, kit, chat_input="Hi")
    name, data = events[-1]
    assert name == "error" and data["error"]["type"] == "upstream_stream_error"
    assert "Overloaded" in data["error"]["message"]
    assert "".join(d["chat_output_stream"] for _, d in events[:-1]) == "Hello! I am"


@pytest.mark.parametrize(("status", "expected"), [(401, 401), (429, 429), (400, 400), (500, 502), (503, 502)])
def test_upstream_4xx_and_5xx(client: httpx.Client, kit: Kit, status: int, expected: int) -> None:
    kit.emulator.faults.append(Fault("status", status=status, message="vendor says no"))
    r = chat(client, kit, chat_input="hi")
    assert r.status_code == expected
    assert "vendor says no" in r.json()["error"]["message"]


def test_overloaded_mid_stream_is_retried_before_the_first_byte(client: httpx.Client, kit: Kit) -> None:
    kit.emulator.faults.append(Fault("midstream_error", after_chunks=0, message="Overloaded"))
    r = chat(client, kit, chat_input="Hi", retries=1)
    assert r.status_code == 200, r.text
    assert r.json()["chat_output"] == DEFAULT_REPLY
    assert len(kit.emulator.requests) == 2


def test_thinking_text_stays_out_of_the_answer(client: httpx.Client, kit: Kit) -> None:
    kit.emulator.thinking = "Let me think about who I am."
    body = chat(client, kit, chat_input="Who are you?").json()
    assert body["chat_output"] == DEFAULT_REPLY
    streamed = "".join(d["chat_output_stream"] for _, d in stream(client, kit, chat_input="Who are you?")[:-1])
    assert streamed == DEFAULT_REPLY
