"""LLMstudio's own packages, as its users run them, against llmgateway: the Python client
through the proxy (chat, achat, streams), its tracker client (logs of a session, sessions,
prompts) and its LangChain chat model, with no change on their side.

They pin openai<2 and fastapi<0.116, so they live in a virtual environment of their own
(`.venv-llmstudio` at the repository root), made once by `.ci/run` or, when missing, here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings, running_gateway
from tests.emulators.openai import DEFAULT_REPLY, VALID_KEY, OpenAIEmulator

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-llmstudio"
REQUIREMENTS = ROOT / "tests" / "llmstudio-requirements.txt"  # .ci/run installs the same


def llmstudio_python() -> Path:
    """The reference packages' interpreter, its environment made on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=120)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True, timeout=900,
                           capture_output=True)  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            message = f"could not install {REQUIREMENTS.name}: {getattr(exc, 'stderr', b'')!r}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    return python


@pytest.fixture(scope="module")
def flows_seen(tmp_path_factory: pytest.TempPathFactory, openai_emulator: OpenAIEmulator) -> dict[str, Any]:
    """Every flow run once, in one process of the reference's environment, against one gateway."""
    python = llmstudio_python()
    openai_emulator.reset()
    with pytest.MonkeyPatch.context() as env:  # module-scoped: before the per-test environment
        env.setenv("OPENAI_API_KEY", VALID_KEY)
        env.setenv("OPENAI_BASE_URL", openai_emulator.base_url)  # type: ignore[attr-defined]
        with running_gateway(make_settings(tmp_path_factory.mktemp("llmstudio"))) as url:
            host, port = url.removeprefix("http://").split(":")
            result = subprocess.run([str(python), str(ROOT / "tests" / "llmstudio_flows.py"), host, port],
                                    capture_output=True, text=True, timeout=300, cwd=ROOT)  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_chat_and_achat(flows_seen: dict[str, Any]) -> None:
    chat = flows_seen["chat"]
    assert chat["text"] == DEFAULT_REPLY and flows_seen["achat"]["text"] == DEFAULT_REPLY
    assert chat["model"] == "gpt-4o-mini" and chat["deployment"] == "gpt-4o-mini-2024-07-18"
    assert chat["latency_s"] > 0


def test_streams_reassemble_and_end_with_metrics(flows_seen: dict[str, Any]) -> None:
    for name in ("stream", "astream"):
        seen = flows_seen[name]
        assert seen["text"] == DEFAULT_REPLY
        assert seen["last_metrics"]["output_tokens"] == 12 and seen["last_metrics"]["cost_usd"] > 0
    stream = flows_seen["stream"]
    assert stream["last_chat_output"] == DEFAULT_REPLY
    assert stream["models"] == ["gpt-4o-mini"]  # the model asked for, in every chunk
    assert stream["chunks"] == 12 + 2  # the opening chunk, one per word, the closing one with the metrics


def test_the_tracker_client_finds_its_session_with_metrics(flows_seen: dict[str, Any]) -> None:
    logs = flows_seen["session_logs"]
    # the four calls with tracking_config: each merged into the gateway's own record, none doubled
    assert sorted(row["chat_input"] for row in logs) == sorted(
        ["Hello from chat", "Hello from achat", "Hello from a stream", "Hello from an async stream"]
    )
    answered_ids = {flows_seen[name]["id"] for name in ("chat", "achat", "stream")}
    assert answered_ids <= {row["id"] for row in logs}
    for row in logs:
        assert isinstance(row["log_id"], int) and row["created_at"].startswith("20")
        assert row["model"] == "gpt-4o-mini" and row["deployment"] == "gpt-4o-mini-2024-07-18"
        assert row["metrics"]["output_tokens"] == 12 and row["metrics"]["latency_s"] > 0


def test_sessions_round_trip(flows_seen: dict[str, Any]) -> None:
    sessions = flows_seen["sessions"]
    added = sessions["added"]
    assert isinstance(added["message_id"], int) and added["extras"] == {"rating": 1}
    assert sessions["patched"]["extras"] == {"rating": 5} and sessions["patched"]["message_id"] == added["message_id"]
    assert [s["message_id"] for s in sessions["listed"]] == [added["message_id"]]
    assert sessions["listed"][0]["chat_history"] == [{"role": "user", "content": "hi"}]


def test_prompts_round_trip(flows_seen: dict[str, Any]) -> None:
    prompts = flows_seen["prompts"]
    assert (prompts["first"]["version"], prompts["second"]["version"]) == (1, 2)
    assert prompts["active"]["prompt_id"] == prompts["second"]["prompt_id"]  # one active version per group
    assert prompts["by_id"]["is_active"] is False
    assert prompts["updated"]["prompt"] == "Say hi" and prompts["updated"]["version"] == 2
    assert prompts["deleted"] == 200 and prompts["gone"]["prompt_id"] is None


def test_langchain_chat_model(flows_seen: dict[str, Any]) -> None:
    assert flows_seen["langchain"]["text"] == DEFAULT_REPLY
