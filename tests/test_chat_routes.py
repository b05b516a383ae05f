"""The chat routes are served outside FastAPI's handler (api/chat_routes.py): a body they
refuse is refused in FastAPI's words and statuses, on both surfaces, and recorded as before.
The expected answers are what FastAPI's own handler gave for each body."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from llmgateway.api.app import create_app
from llmgateway.api.chat_routes import ChatRoutes
from tests.conftest import make_settings

JSON = {"content-type": "application/json"}
NOT_AN_OBJECT = "body: Input should be a valid dictionary or object to extract fields from"
UNPARSABLE = "the request body could not be parsed as JSON (malformed, or nested too deeply)"
DEEP = ('{"model": "m", "chat_input": "hi", "parameters": {"x": ' + "[" * 50_000 + "]" * 50_000 + "}}").encode()

# (name, body, headers, status, message on the engine API, message on /v1)
CASES = [
    ("empty", b"", JSON, 422, "body: Field required", "body: Field required"),
    ("no content type", b'{"model": "gpt-4o-mini", "chat_input": "hi"}', {}, 422, NOT_AN_OBJECT, NOT_AN_OBJECT),
    ("text/plain", b'{"model": "gpt-4o-mini", "chat_input": "hi"}', {"content-type": "text/plain"}, 422, NOT_AN_OBJECT,
     NOT_AN_OBJECT),
    ("a +json type", b'{"model": "m"}', {"content-type": "application/vnd.api+json"}, 422, "chat_input: Field required",
     "messages: Field required"),
    ("a list", b"[1, 2]", JSON, 422, NOT_AN_OBJECT, NOT_AN_OBJECT),
    ("a field missing", b'{"chat_input": "hi"}', JSON, 422, "model: Field required", "model: Field required (and 1 more)"),
    ("malformed", b'{"model": ', JSON, 400, "the request body is not valid JSON", "the request body is not valid JSON"),
    ("nested past the parser", DEEP, JSON, 400, UNPARSABLE, UNPARSABLE),
    ("not UTF-8", b'{"model": "\xff"}', JSON, 400, UNPARSABLE, UNPARSABLE),
    ("wrong types", b'{"model": 5, "chat_input": 7, "is_stream": "maybe"}', JSON, 422,
     "model: Input should be a valid string (and 3 more)", "model: Input should be a valid string (and 1 more)"),
]  # fmt: skip


@pytest.fixture(scope="module")
def gateway_url(shared_gateway_url: str) -> Iterator[str]:
    yield shared_gateway_url


@pytest.mark.parametrize(("name", "body", "headers", "status", "engine_message", "v1_message"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("surface", ["engine", "v1"])
def test_a_refused_body_is_answered_as_fastapi_answered_it(
    gateway_url: str, surface: str, name: str, body: bytes, headers: dict[str, str], status: int, engine_message: str,
    v1_message: str,
) -> None:  # fmt: skip
    path = "/api/engine/chat/openai" if surface == "engine" else "/v1/chat/completions"
    r = httpx.post(f"{gateway_url}{path}", content=body, headers=headers, timeout=30)
    error = r.json()["error"]
    assert (r.status_code, error["message"]) == (status, engine_message if surface == "engine" else v1_message), name
    assert error["type"] == ("invalid_json" if status == 400 else "validation_error")


def test_a_refusal_is_recorded_with_the_provider_its_path_names(gateway_url: str) -> None:
    r = httpx.post(f"{gateway_url}/api/engine/chat/anthropic", content=b'{"chat_input": "hi"}', headers=JSON)
    assert r.status_code == 422
    logs = httpx.get(f"{gateway_url}/api/tracking/logs", params={"limit": 1000}).json()
    refused = [log for log in logs if log["error_type"] == "validation_error" and log["provider"] == "anthropic"]
    assert refused and refused[0]["surface"] == "engine"


def test_each_chat_route_is_served_where_fastapi_documents_it(tmp_path: Path) -> None:
    """The chat routes name their paths twice (for ChatRoutes and for the OpenAPI schema):
    a path renamed in one place only would leave the route to FastAPI, slower, unnoticed."""
    app = create_app(make_settings(tmp_path))
    (chat_routes,) = [m for m in app.user_middleware if m.cls is ChatRoutes]
    documented = [re.sub(r"\{[^}]+\}", "openai", path) for path, item in app.openapi()["paths"].items() if "post" in item]
    for pattern, _body_model, _endpoint in chat_routes.kwargs["routes"]:
        assert [path for path in documented if pattern.fullmatch(path)], pattern.pattern
