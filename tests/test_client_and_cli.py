"""The Python client, over HTTP and in-process, and the command line through its entry point."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from llmgateway import LLM, LLMGatewayError
from llmgateway.settings import reset_settings
from tests.conftest import ENTRY_POINT
from tests.emulators.openai import DEFAULT_REPLY, Fault, OpenAIEmulator


@pytest.fixture(params=["http", "in-process"])
def llm(request: pytest.FixtureRequest, gateway_factory: Callable[..., str], tmp_path: Path, monkeypatch):
    """The same client code against a running gateway, and with no server at all."""
    if request.param == "http":
        client = LLM("openai/gpt-4o-mini", url=gateway_factory())
    else:
        monkeypatch.delenv("LLMGATEWAY_URL", raising=False)
        monkeypatch.setenv("LLMGATEWAY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'inproc.db'}")
        monkeypatch.setenv("LLMGATEWAY_TRACKING_SPILL_PATH", str(tmp_path / "spill.jsonl"))
        reset_settings()
        client = LLM("openai/gpt-4o-mini")
    with client:
        yield client


def test_chat_returns_the_engine_response(llm: LLM, openai_emulator: OpenAIEmulator) -> None:
    response = llm.chat("Hello! Who are you?", temperature=0.3)
    assert response["chat_output"] == DEFAULT_REPLY
    assert response["metrics"]["output_tokens"] == 12 and response["metrics"]["cost_usd"] > 0
    assert openai_emulator.requests[-1]["temperature"] == 0.3


def test_streamed_chat_yields_chunks(llm: LLM) -> None:
    chunks = list(llm.chat("Hi", is_stream=True))
    assert "".join(c["chat_output_stream"] for c in chunks) == DEFAULT_REPLY
    assert chunks[-1]["metrics"]["output_tokens"] == 12


def test_async_chat_streamed_and_not(llm: LLM) -> None:
    async def run() -> tuple[dict, str]:
        response = await llm.achat("Hi")
        stream = await llm.achat("Hi", is_stream=True)
        text = "".join([c["chat_output_stream"] async for c in stream])
        return response, text

    response, text = asyncio.run(run())
    assert response["chat_output"] == DEFAULT_REPLY and text == DEFAULT_REPLY


def test_batch_chat_keeps_order_and_failures(llm: LLM, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.chunk_delay_s = 0.02  # each answer streams for about 0.25 s: they overlap
    inputs = [f"question {i}" for i in range(12)]
    results = llm.batch_chat(inputs, max_concurrency=4, progress=False, parameters={"temperature": 0.5})
    assert [r["chat_input"] for r in results] == inputs
    assert openai_emulator.most_streaming == 4  # the bound, reached and never passed
    # the first prompt's upstream call fails; the others still run
    openai_emulator.faults.append(Fault("status", status=400, message="rejected"))
    mixed = llm.batch_chat(["a", "b", "c"], max_concurrency=1, progress=False)
    failures = [r for r in mixed if isinstance(r, LLMGatewayError)]
    assert len(failures) == 1 and failures[0].status_code == 400 and mixed.index(failures[0]) == 0
    assert all(isinstance(r, dict) for r in mixed[1:])


def test_errors_are_raised_as_llmgateway_errors(llm: LLM) -> None:
    with pytest.raises(LLMGatewayError) as caught:
        llm.chat("hi", temperature=9)
    assert caught.value.status_code == 422 and "temperature" in caught.value.message


def test_model_must_name_its_provider() -> None:
    with pytest.raises(ValueError, match="provider/model"):
        LLM("gpt-4o-mini")


def cli(*args: str, url: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ}
    if url:
        env["LLMGATEWAY_URL"] = url
    return subprocess.run([str(ENTRY_POINT), *args], capture_output=True, text=True, timeout=60, env=env)


def test_cli_chat_streams_then_prints_metrics(gateway_url: str) -> None:
    result = cli("chat", "openai/gpt-4o-mini", "Hello! Who are you?", "-p", "temperature=0.2", url=gateway_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == DEFAULT_REPLY
    assert "12 out" in result.stderr and "tokens/s" in result.stderr and "cost $" in result.stderr


def test_cli_lists_providers_models_and_logs(gateway_url: str) -> None:
    lines = {line.split()[0]: line.split(None, 2)[2] for line in cli("providers", url=gateway_url).stdout.splitlines()}
    assert lines["openai"] == "ready"
    assert lines["anthropic"].startswith("missing: ") and "ANTHROPIC_API_KEY" in lines["anthropic"]
    models = cli("models", "openai", url=gateway_url).stdout.split()
    assert "openai/gpt-4o-mini" in models
    cli("chat", "openai/gpt-4o-mini", "for the log", url=gateway_url)
    logs = cli("logs", "--tail", "5", url=gateway_url)
    assert logs.returncode == 0 and "success" in logs.stdout and "openai/gpt-4o-mini" in logs.stdout


def test_cli_says_what_to_do_when_the_gateway_is_down() -> None:
    result = cli("chat", "openai/gpt-4o-mini", "hi", url="http://127.0.0.1:9")
    assert result.returncode == 1
    assert "llmgateway serve" in result.stderr and "LLMGATEWAY_URL" in result.stderr


def test_cli_shows_a_missing_key_clearly(gateway_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    result = cli("chat", "openai/gpt-4o-mini", "hi", url=gateway_url)
    assert result.returncode == 1 and result.stderr.strip() == (
        "llmgateway: the gateway has no key for openai: set OPENAI_API_KEY where `llmgateway serve` runs "
        "(its environment or .env), then restart it"
    )
