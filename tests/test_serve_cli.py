"""`llmgateway serve`, started through its entry point, answering the reference curl."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import ENTRY_POINT, served
from tests.emulators.openai import DEFAULT_REPLY, VALID_KEY, OpenAIEmulator
from tests.test_engine_api import REFERENCE_KEYS, REFERENCE_METRICS


@pytest.fixture
def served_gateway(tmp_path: Path, openai_emulator: OpenAIEmulator) -> Iterator[int]:
    with served(tmp_path) as (port, _process):
        yield port


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_reference_curl_gets_the_reference_schema(served_gateway: int) -> None:
    # The reference curl of shared/spec/engine-api.md, its placeholders filled in.
    command = f"""curl --request POST \\
  --url http://localhost:{served_gateway}/api/engine/chat/openai \\
  --header 'Content-Type: application/json' \\
  --data '{{
  "api_key": "{VALID_KEY}",
  "model": "gpt-4o-mini",
  "chat_input": "Hello! Who are you?",
  "parameters": {{"temperature": 1, "max_tokens": 2048, "top_p": 1, "frequency_penalty": 0, "presence_penalty": 0}},
  "is_stream": false
}}'"""
    result = subprocess.run(["bash", "-c", command], capture_output=True, timeout=30, check=True)
    body = json.loads(result.stdout)
    assert set(REFERENCE_KEYS) <= set(body)
    assert set(REFERENCE_METRICS) <= set(body["metrics"])
    assert body["chat_output"] == DEFAULT_REPLY
    assert body["parameters"] == {
        "temperature": 1,
        "max_tokens": 2048,
        "top_p": 1,
        "frequency_penalty": 0,
        "presence_penalty": 0,
    }
    assert body["metrics"]["latency_s"] > 0 and body["metrics"]["cost_usd"] > 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_stream_shows_text_as_it_is_generated(served_gateway: int, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.chunk_delay_s = 0.05
    process = subprocess.Popen(
        [
            "curl", "-sN", "--request", "POST",
            "--url", f"http://127.0.0.1:{served_gateway}/api/engine/chat/openai",
            "--header", "Content-Type: application/json",
            "--data", json.dumps({"model": "gpt-4o-mini", "chat_input": "Hi", "is_stream": True}),
        ],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    arrivals = []
    for line in process.stdout:  # the default framing: one JSON object a chunk, a line each
        chunk = json.loads(line)
        if chunk.get("chat_output_stream"):
            arrivals.append((time.monotonic(), chunk["chat_output_stream"]))
    process.wait(timeout=30)
    assert "".join(text for _, text in arrivals) == DEFAULT_REPLY
    # 12 pieces, 50 ms apart upstream: they reach curl spread out, not in one burst
    assert arrivals[-1][0] - arrivals[0][0] > 0.3


def test_serve_help_names_its_options() -> None:
    result = subprocess.run([str(ENTRY_POINT), "serve", "--help"], capture_output=True, text=True, check=True)
    for option in ("--host", "--port", "--workers"):
        assert option in result.stdout
