"""Vendors' errors that quote a key never carry it further: not to the client, the request
log, the CSV export, nor the server's log. For every provider with a credential, on every
error path (an HTTP error before the stream, an error inside the stream, streamed and not),
with the key whole, URL-encoded and in part.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import httpx
import pytest

from tests.conftest import served
from tests.emulators.base import VALID_KEY, EmulatorState, Fault

GOOGLE_KEY = "AIzaSyD3m0-Emulated_Key-0123456789abcdefg"  # shaped as Google's keys are
AWS_SECRET = "emulator-secret-access-key-0123456789"


@dataclass
class Case:
    emulator_fixture: str
    model: str
    secret: str


CASES = {
    "openai": Case("openai_emulator", "gpt-4o-mini", VALID_KEY),
    "azure": Case("azure_emulator", "my-gpt4o-mini-deployment", VALID_KEY),
    "anthropic": Case("anthropic_emulator", "claude-sonnet-4-5", VALID_KEY),
    "google": Case("gemini_emulator", "gemini-2.5-flash", GOOGLE_KEY),
    "vertexai": Case("vertex_emulator", "gemini-2.5-pro", "ya29.emulated-access-token"),
    "bedrock": Case("bedrock_emulator", "anthropic.claude-sonnet-4-5-20250929-v1:0", AWS_SECRET),
}


def forms(secret: str) -> dict[str, str]:
    """The ways a vendor may quote a key: whole, URL-encoded, a middle part, the start."""
    return {
        "whole": secret,
        "url-encoded": "".join(f"%{ord(c):02X}" for c in secret),
        "middle": secret[4:20],
        "start": secret[:14],
    }


def test_keys_quoted_by_vendors_go_nowhere(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every provider with a credential, through one gateway process (its server log holds them all)."""
    emulators: dict[str, EmulatorState] = {provider: request.getfixturevalue(case.emulator_fixture) for provider, case in CASES.items()}
    monkeypatch.setattr(emulators["google"], "api_key", GOOGLE_KEY)
    monkeypatch.setenv("GEMINI_API_KEY", GOOGLE_KEY)
    answers: dict[str, list[str]] = {provider: [] for provider in CASES}
    with served(tmp_path, LLMGATEWAY_LOG_LEVEL="debug") as (port, _process):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            for provider, case in CASES.items():
                route = f"/api/engine/chat/{provider}"
                for name, leak in forms(case.secret).items():
                    message = f"Invalid credential ({name}): {leak}. Check your key."
                    for stream in (False, True):
                        emulators[provider].faults.append(Fault("status", status=400, message=message))
                        r = c.post(route, json={"model": case.model, "chat_input": "hi", "is_stream": stream})
                        assert r.status_code == 400, (provider, r.text)
                        assert "Check your key" in r.text, provider  # the vendor's message is passed on, scrubbed
                        answers[provider].append(r.text)
                        emulators[provider].faults.append(Fault("midstream_error", message=message, after_chunks=1))
                        r = c.post(route, json={"model": case.model, "chat_input": "hi", "is_stream": stream})
                        assert r.status_code in (200, 502), (provider, r.text)  # streamed: the error comes as an event
                        assert "error" in r.text, provider
                        answers[provider].append(r.text)
            time.sleep(0.3)
            rows = c.get("/api/tracking/logs", params={"limit": 1000}).json()
            csv_text = c.get("/api/tracking/logs", params={"format": "csv", "limit": 1000}).text
    for provider, case in CASES.items():
        provider_rows = [row for row in rows if row["provider"] == provider]
        assert len(provider_rows) == 4 * len(forms(case.secret)), provider
        assert all(row["status"] == "error" and row["error_message"] and "[redacted]" in row["error_message"]
                   for row in provider_rows), provider  # fmt: skip
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert "server.log" in files and "llmgateway.db" in files
    for provider, case in CASES.items():
        for name, leak in forms(case.secret).items():
            for answer in answers[provider]:
                assert leak not in answer, (provider, name, answer)
            assert leak not in csv_text, (provider, name)
            for filename, content in files.items():
                assert leak.encode() not in content, (provider, name, filename)


def test_a_key_from_the_request_body_is_scrubbed_too(gateway_factory: Callable[..., str], openai_emulator: EmulatorState) -> None:
    body_key = "my-own-project-key-ABCDEFGHIJ0123"  # no known shape: found because it is the request's key
    url = gateway_factory(allow_client_keys=True)
    r = httpx.post(f"{url}/api/engine/chat/openai", json={"model": "gpt-4o-mini", "chat_input": "hi", "api_key": body_key})
    assert r.status_code == 401
    assert "Incorrect API key provided: [redacted]" in r.json()["error"]["message"]
    assert body_key[3:20] not in r.text


def test_log_lines_and_tracebacks_are_scrubbed() -> None:
    import io
    import logging

    from llmgateway.core.secrets import ScrubbingFilter, SecretScrubber

    secret = "server-held-secret-0123456789"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ScrubbingFilter(SecretScrubber([secret])))
    logger = logging.getLogger("llmgateway.test-scrubbing")
    logger.addHandler(handler)
    try:
        logger.error("calling with %s", secret)
        # in pieces shorter than any fragment the scrubber knows: only the whole line shows it
        logger.error("split across arguments: %s%s%s", secret[:10], secret[10:20], secret[20:])
        try:
            raise RuntimeError(f"the SDK said: key={secret[:16]}")
        except RuntimeError:
            logger.exception("unexpected")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "calling with [redacted]" in written and "split across arguments: [redacted]\n" in written
    assert "RuntimeError: the SDK said: [redacted]" in written
    assert secret[:12] not in written
