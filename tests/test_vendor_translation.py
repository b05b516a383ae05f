"""What each vendor receives for the request features whose spelling differs between vendors:
one exact expected value per provider, written from the vendors' API references (not from the
adapters), read from what the emulator received.

Anthropic Messages: `tool_choice` {"type": "auto" | "any" | "none" | "tool", "name"}; image
blocks with a `url` or `base64` source. Gemini generateContent: `toolConfig.functionCallingConfig`
{"mode": AUTO | ANY | NONE, "allowedFunctionNames"}; `generationConfig.responseMimeType`;
roles `user` and `model` only. Bedrock Converse: `toolConfig.toolChoice` {"auto": {}} |
{"any": {}} | {"tool": {"name"}}. Ollama /api/chat: `format: "json"`; no tool choice, so
"none" sends no tools.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import httpx
import pytest

from tests.test_one_exit import EMULATOR_OF, MODELS
from tests.test_provider_scenarios import TOOLS

CHAT = "/api/engine/chat/{provider}"
NAMED = {"type": "function", "function": {"name": "get_weather"}}


@pytest.fixture
def client(shared_gateway_url: str) -> Iterator[httpx.Client]:
    """The module's tests share one gateway: they read only what they sent and their own answers."""
    with httpx.Client(base_url=shared_gateway_url, timeout=30) as c:
        yield c


def _send(client: httpx.Client, request: pytest.FixtureRequest, provider: str, **body: Any) -> tuple[httpx.Response, dict]:
    emulator = request.getfixturevalue(EMULATOR_OF[provider])
    r = client.post(CHAT.format(provider=provider), json={"model": MODELS[provider], "chat_input": "weather?", **body})
    return r, (emulator.requests[-1] if emulator.requests else {})


def _camel(value: Any) -> Any:
    """Keys in the API's camel case: google-genai writes some fields in snake case, differently
    for the Gemini API and Vertex AI and typed or dict configs; the API reads both spellings."""
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): _camel(v) for k, v in value.items()}
    return value


def _gemini_calling(body: dict) -> Any:
    return _camel(body["toolConfig"]["functionCallingConfig"])


@pytest.mark.parametrize(
    ("provider", "tool_choice", "sent_of", "expected"),
    [
        ("openai", NAMED, lambda b: b["tool_choice"], NAMED),
        ("openai", "required", lambda b: b["tool_choice"], "required"),
        ("anthropic", NAMED, lambda b: b["tool_choice"], {"type": "tool", "name": "get_weather"}),
        ("anthropic", "required", lambda b: b["tool_choice"], {"type": "any"}),
        ("anthropic", "none", lambda b: b["tool_choice"], {"type": "none"}),
        ("google", NAMED, _gemini_calling, {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
        ("google", "required", _gemini_calling, {"mode": "ANY"}),
        ("google", "none", _gemini_calling, {"mode": "NONE"}),
        ("vertexai", NAMED, _gemini_calling, {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
        ("bedrock", NAMED, lambda b: b["toolConfig"]["toolChoice"], {"tool": {"name": "get_weather"}}),
        ("bedrock", "required", lambda b: b["toolConfig"]["toolChoice"], {"any": {}}),
        ("ollama", "none", lambda b: b["tools"], []),  # the ollama SDK sends an empty list for none
        ("ollama", "auto", lambda b: [t["function"]["name"] for t in b["tools"]], ["get_weather"]),
    ],
)
def test_tool_choice_in_each_vendors_words(
    client: httpx.Client, request: pytest.FixtureRequest, provider: str, tool_choice: Any, sent_of: Any, expected: Any
) -> None:
    r, sent = _send(client, request, provider, tools=TOOLS, tool_choice=tool_choice)
    assert r.status_code == 200, r.text
    assert sent_of(sent) == expected


@pytest.mark.parametrize(
    ("provider", "sent_of", "expected"),
    [
        ("openai", lambda b: b["response_format"], {"type": "json_object"}),
        ("azure", lambda b: b["response_format"], {"type": "json_object"}),
        ("google", lambda b: b["generationConfig"]["responseMimeType"], "application/json"),
        ("ollama", lambda b: b["format"], "json"),
    ],
)
def test_json_mode_in_each_vendors_words(
    client: httpx.Client, request: pytest.FixtureRequest, provider: str, sent_of: Any, expected: Any
) -> None:
    r, sent = _send(client, request, provider, response_format={"type": "json_object"})
    assert r.status_code == 200, r.text
    assert sent_of(sent) == expected


@pytest.mark.parametrize("provider", ["anthropic", "bedrock"])
def test_json_mode_where_the_vendor_has_none_is_a_clear_400(
    client: httpx.Client, request: pytest.FixtureRequest, provider: str
) -> None:
    r, sent = _send(client, request, provider, response_format={"type": "json_object"})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("response_format:")
    assert sent == {}  # nothing went upstream


IMAGE = "https://example.com/cat.png"


@pytest.mark.parametrize(
    ("provider", "sent_of", "expected"),
    [
        ("openai", lambda b: b["messages"][-1]["content"][1], {"type": "image_url", "image_url": {"url": IMAGE}}),
        ("anthropic", lambda b: b["messages"][-1]["content"][1], {"type": "image", "source": {"type": "url", "url": IMAGE}}),
        ("google", lambda b: _camel(b["contents"][-1]["parts"][1]), {"fileData": {"fileUri": IMAGE, "mimeType": "image/*"}}),
    ],
)
def test_image_urls_reach_the_vendor(
    client: httpx.Client, request: pytest.FixtureRequest, provider: str, sent_of: Any, expected: Any
) -> None:
    content = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": IMAGE}}]
    r, sent = _send(client, request, provider, chat_input=[{"role": "user", "content": content}])
    assert r.status_code == 200, r.text
    assert sent_of(sent) == expected


def test_gemini_hears_the_assistant_as_model(client: httpx.Client, gemini_emulator: Any) -> None:
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "again"}]
    r = client.post(CHAT.format(provider="google"), json={"model": MODELS["google"], "chat_input": turns})
    assert r.status_code == 200, r.text
    assert [c["role"] for c in gemini_emulator.requests[-1]["contents"]] == ["user", "model", "user"]
