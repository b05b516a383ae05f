"""Client input reaches only the vendor's JSON body: no parameter sets the host, headers,
credentials or timeouts of an upstream call.

For every provider, the parameter names tried are every option of the SDK's client, its
request options and its config types, enumerated from the installed SDKs, each sent with a
value that would redirect the call if it were obeyed. A canary server counts any request
that reaches it; the emulator records what each call carried.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.emulators.base import EmulatorState, Fault
from tests.emulators.server import serve_in_thread

CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key")


class Canary:
    def __init__(self) -> None:
        self.hits: list[str] = []

        async def anything(request: Request) -> Response:
            self.hits.append(f"{request.method} {request.url.path}")
            return Response("{}", media_type="application/json")

        self.app = Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST", "PUT"])])


@pytest.fixture(scope="module")
def canary() -> Iterator[tuple[Canary, str]]:
    server = Canary()
    with serve_in_thread(server.app) as url:
        yield server, url


@pytest.fixture
def own_canary() -> Iterator[tuple[Canary, str]]:
    """A canary for one test that expects it to be reached (the module's must stay unreached)."""
    server = Canary()
    with serve_in_thread(server.app) as url:
        yield server, url


def _signature_names(*functions: Callable[..., Any]) -> set[str]:
    names = set()
    for function in functions:
        for parameter in inspect.signature(function).parameters.values():
            if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD) and parameter.name != "self":
                names.add(parameter.name)
    return names


def openai_option_names() -> set[str]:
    import openai
    from openai.resources.chat.completions import AsyncCompletions

    return _signature_names(openai.AsyncOpenAI.__init__, openai.AsyncAzureOpenAI.__init__, AsyncCompletions.create)


def anthropic_option_names() -> set[str]:
    import anthropic
    from anthropic.resources.messages import AsyncMessages

    return _signature_names(anthropic.AsyncAnthropic.__init__, AsyncMessages.create)


def google_option_names() -> set[str]:
    from google import genai
    from google.genai import types
    from google.genai.models import AsyncModels

    return (
        set(types.GenerateContentConfig.model_fields)
        | set(types.HttpOptions.model_fields)
        | _signature_names(genai.Client.__init__, AsyncModels.generate_content_stream)
    )


def ollama_option_names() -> set[str]:
    import ollama

    return _signature_names(ollama.AsyncClient.__init__, ollama.AsyncClient.chat, httpx.AsyncClient.__init__)


def bedrock_option_names() -> set[str]:
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    converse = session.get_service_model("bedrock-runtime").operation_model("ConverseStream")
    return set(Config.OPTION_DEFAULTS) | set(converse.input_shape.members) | _signature_names(session.create_client)


PROVIDERS = {
    # provider: (emulator fixture, model, option names)
    "openai": ("openai_emulator", "gpt-4o-mini", openai_option_names),
    "azure": ("azure_emulator", "my-gpt4o-mini-deployment", openai_option_names),
    "anthropic": ("anthropic_emulator", "claude-sonnet-4-5", anthropic_option_names),
    "google": ("gemini_emulator", "gemini-2.5-flash", google_option_names),
    "vertexai": ("vertex_emulator", "gemini-2.5-pro", google_option_names),
    "ollama": ("ollama_emulator", "llama3.2", ollama_option_names),
    "bedrock": ("bedrock_emulator", "anthropic.claude-sonnet-4-5-20250929-v1:0", bedrock_option_names),
}


def _credentials(headers: dict[str, str]) -> dict[str, str]:
    """The headers that carry credentials, as comparable values (a SigV4 signature changes
    with every request; its credential scope does not)."""
    found = {}
    for name in CREDENTIAL_HEADERS:
        value = headers.get(name)
        if value is not None:
            found[name] = value.split(",")[0] if value.startswith("AWS4-HMAC-SHA256") else value
    return found


def _hostile_values(canary_url: str) -> list[Any]:
    """What would move the call if a parameter reached the SDK rather than the JSON body."""
    return [
        canary_url,
        {
            "base_url": canary_url, "baseUrl": canary_url, "url": canary_url, "host": canary_url,
            "endpoint_url": canary_url, "azure_endpoint": canary_url, "api_key": "sk-canary-0123456789",
            "headers": {"x-canary": "1", "authorization": "Bearer canary"}, "timeout": 0.001,
        },
    ]  # fmt: skip


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_no_parameter_moves_the_upstream_call(
    provider: str, request: pytest.FixtureRequest, canary: tuple[Canary, str], gateway_url: str
) -> None:
    fixture, model, option_names = PROVIDERS[provider]
    emulator: EmulatorState = request.getfixturevalue(fixture)
    server, canary_url = canary
    names = sorted(option_names())
    assert len(names) > 10, names  # the enumeration found the SDK's options
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        route = f"/api/engine/chat/{provider}"
        baseline = client.post(route, json={"model": model, "chat_input": "hi"})
        assert baseline.status_code == 200, baseline.text
        expected = _credentials(emulator.headers[-1])
        expected_path = emulator.paths[-1]
        assert expected or provider == "ollama", "the emulator saw no credential header"  # Ollama takes none
        statuses = {}
        for name in names:
            for value in _hostile_values(canary_url):
                r = client.post(route, json={"model": model, "chat_input": "hi", "parameters": {name: value}})
                statuses[name] = r.status_code
                assert r.status_code < 500, (name, r.status_code, r.text)
    assert server.hits == []
    for headers, path in zip(emulator.headers, emulator.paths):
        assert _credentials(headers) == expected
        assert "x-canary" not in headers
        assert path == expected_path
    # most names reached the vendor (in its body), rather than all being refused up front
    assert sum(1 for status in statuses.values() if status == 200) > len(names) // 3, statuses


def test_v1_top_level_fields_stay_in_the_body(gemini_emulator: EmulatorState, canary: tuple[Canary, str], gateway_url: str) -> None:
    server, canary_url = canary
    body = {
        "model": "google/gemini-2.5-flash",
        "messages": [{"role": "user", "content": "hi"}],
        "http_options": {"base_url": canary_url, "headers": {"x-canary": "1"}},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    }
    r = httpx.post(f"{gateway_url}/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert server.hits == []
    sent = gemini_emulator.requests[-1]
    # unknown fields land in Gemini's REST body, as the client wrote them
    assert sent["safetySettings"] == body["safetySettings"]
    assert "x-canary" not in gemini_emulator.headers[-1]


def test_known_gemini_parameters_are_mapped_into_generation_config(gemini_emulator: EmulatorState, gateway_url: str) -> None:
    parameters = {"temperature": 0.3, "max_tokens": 50, "stop": "END", "top_k": 5, "seed": 7}
    r = httpx.post(f"{gateway_url}/api/engine/chat/google",
                   json={"model": "gemini-2.5-flash", "chat_input": "hi", "parameters": parameters}, timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    config = gemini_emulator.requests[-1]["generationConfig"]
    assert config["temperature"] == 0.3 and config["maxOutputTokens"] == 50
    assert config["stopSequences"] == ["END"] and config["topK"] == 5 and config["seed"] == 7


@pytest.mark.parametrize("name", ["api_key", "apiKey", "Authorization", "x-api-key", "aws_secret_access_key"])
def test_credential_named_parameters_are_refused(name: str, gateway_url: str, openai_emulator: EmulatorState) -> None:
    r = httpx.post(f"{gateway_url}/api/engine/chat/openai",
                   json={"model": "gpt-4o-mini", "chat_input": "hi", "parameters": {name: "sk-other-0123456789"}})  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["message"].startswith(f"parameters.{name}:")
    assert openai_emulator.requests == []


def test_v1_api_key_is_the_provider_key_never_a_parameter(
    gateway_factory: Callable[..., str], openai_emulator: EmulatorState
) -> None:
    from tests.emulators.base import VALID_KEY

    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "api_key": VALID_KEY}
    url = gateway_factory(allow_client_keys=True)
    assert httpx.post(f"{url}/v1/chat/completions", json={**body, "api_key": "sk-wrong-0123456789"}).status_code == 401
    r = httpx.post(f"{url}/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    assert "api_key" not in openai_emulator.requests[-1]
    assert openai_emulator.headers[-1]["authorization"] == f"Bearer {VALID_KEY}"
    logs = httpx.get(f"{url}/api/tracking/logs").json()
    assert all("api_key" not in (row["parameters"] or {}) for row in logs)

    refusing = gateway_factory(allow_client_keys=False)
    r = httpx.post(f"{refusing}/v1/chat/completions", json=body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "client_keys_not_allowed"


@pytest.fixture
def gateway_url(shared_gateway_url: str) -> str:
    """This module's tests share one gateway; a test that changes vendor variables starts its
    own with `gateway_factory` (a gateway reads them once)."""
    return shared_gateway_url


# The surfaces whose body goes to the vendor as the client wrote it: every option of the SDK's
# client and method, as a top-level field with a value that would move the call.
NATIVE_SURFACES = {
    "messages": ("anthropic_emulator", "/v1/messages", anthropic_option_names,
                 {"model": "anthropic/claude-sonnet-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}),
    "responses": ("openai_emulator", "/v1/responses", openai_option_names, {"model": "openai/gpt-4o-mini", "input": "hi"}),
}  # fmt: skip


@pytest.mark.parametrize("surface", list(NATIVE_SURFACES))
def test_no_field_of_a_native_body_moves_the_upstream_call(
    surface: str, request: pytest.FixtureRequest, canary: tuple[Canary, str], gateway_url: str
) -> None:
    fixture, path, option_names, base = NATIVE_SURFACES[surface]
    emulator: EmulatorState = request.getfixturevalue(fixture)
    server, canary_url = canary
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        assert client.post(path, json=base).status_code == 200
        expected, expected_path = _credentials(emulator.headers[-1]), emulator.paths[-1]
        assert expected, "the emulator saw no credential header"
        statuses = {}
        for name in sorted(option_names() - set(base)):
            for value in _hostile_values(canary_url):
                r = client.post(path, json={**base, name: value})
                statuses[name] = r.status_code
                assert r.status_code < 500, (name, r.status_code, r.text)
    assert server.hits == []
    for headers, upstream_path in zip(emulator.headers, emulator.paths):
        assert _credentials(headers) == expected and "x-canary" not in headers and upstream_path == expected_path
    assert sum(1 for status in statuses.values() if status == 200) > len(statuses) // 3, statuses


def test_an_upstream_redirect_is_not_followed_with_the_key(
    gateway_factory: Callable[..., str], own_canary: tuple[Canary, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redirect from the configured endpoint (a moved server, a hostile proxy) is an
    unavailable upstream: the call, and the key it carries, go nowhere else."""
    server, canary_url = own_canary

    async def moved(request: Request) -> Response:
        return Response(status_code=307, headers={"location": f"{canary_url}/v1/chat/completions"})

    redirector = Starlette(routes=[Route("/{path:path}", moved, methods=["POST"])])
    with serve_in_thread(redirector) as redirector_url:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{redirector_url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-redirected-0123456789")
        r = httpx.post(f"{gateway_factory()}/api/engine/chat/openai", json={"model": "gpt-4o-mini", "chat_input": "hi", "retries": 0})
    assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_unavailable", r.text
    assert "307" in r.json()["error"]["message"]
    assert server.hits == []


def test_the_upstream_call_goes_through_the_operators_proxy(
    gateway_factory: Callable[..., str], own_canary: tuple[Canary, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY in the gateway's environment carries its calls to the vendor (an egress
    proxy), as the vendors' SDKs would; NO_PROXY still reaches the gateway itself directly."""
    server, canary_url = own_canary
    monkeypatch.setenv("HTTP_PROXY", canary_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://api.vendor.invalid/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-proxied-0123456789")
    httpx.post(f"{gateway_factory()}/api/engine/chat/openai", json={"model": "gpt-4o-mini", "chat_input": "hi", "retries": 0})
    assert server.hits == ["POST /v1/chat/completions"]


def test_a_cookie_a_vendor_sets_is_never_sent_back(
    gateway_factory: Callable[..., str], openai_emulator: EmulatorState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's calls share one connection pool: a cookie one call's answer set (a
    vendor's session, a load balancer's) must not go out with the next client's call."""
    monkeypatch.setenv("OPENAI_BASE_URL", openai_emulator.base_url.replace("127.0.0.1", "localhost"))  # type: ignore[attr-defined]
    url = gateway_factory()
    body = {"model": "gpt-4o-mini", "chat_input": "hi", "retries": 0}
    openai_emulator.faults.append(Fault("status", status=429, headers={"set-cookie": "vendor_session=abc; Path=/"}))
    assert httpx.post(f"{url}/api/engine/chat/openai", json=body).status_code == 429
    assert httpx.post(f"{url}/api/engine/chat/openai", json=body).status_code == 200
    assert [headers.get("cookie") for headers in openai_emulator.headers[-2:]] == [None, None]
