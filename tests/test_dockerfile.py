"""The Dockerfile's promises, checked without a Docker engine: its instructions parsed, and its
health check command run against a real gateway."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port, served
from tests.emulators.openai import OpenAIEmulator

DOCKERFILE = (Path(__file__).resolve().parent.parent / "Dockerfile").read_text()
DOCKER_STOP_GRACE_S = 10


def _final_stage() -> str:
    return DOCKERFILE[DOCKERFILE.rindex("\nFROM ") :]


def _env() -> dict[str, str]:
    block = re.search(r"^ENV (.*?)(?<!\\)\n", _final_stage(), re.S | re.M)
    assert block is not None
    return dict(pair.split("=", 1) for pair in shlex.split(block.group(1).replace("\\\n", " ")))


def test_records_go_to_a_volume_that_the_user_owns() -> None:
    stage = _final_stage()
    assert "\nVOLUME /data\n" in stage and "\nWORKDIR /data\n" in stage and "chown gateway /data" in stage
    assert _env()["LLMGATEWAY_DATABASE_URL"] == "sqlite+aiosqlite:////data/llmgateway.db"


def test_shutdown_grace_is_under_docker_stops_timeout() -> None:
    assert float(_env()["LLMGATEWAY_SHUTDOWN_GRACE_S"]) < DOCKER_STOP_GRACE_S


def test_ollama_on_the_host_is_the_default() -> None:
    assert _env()["OLLAMA_HOST"] == "http://host.docker.internal:11434"


def test_health_check_follows_the_configured_port(tmp_path: Path, openai_emulator: OpenAIEmulator) -> None:
    command = re.search(r"^HEALTHCHECK .*? CMD (.*)$", DOCKERFILE, re.M)
    assert command is not None
    argv = shlex.split(command.group(1))
    assert argv[:2] == ["python", "-c"]
    with served(tmp_path) as (port, _process):
        healthy = subprocess.run([sys.executable, "-c", argv[2]], env={**os.environ, "LLMGATEWAY_PORT": str(port)}, timeout=30)
        elsewhere = subprocess.run([sys.executable, "-c", argv[2]], env={**os.environ, "LLMGATEWAY_PORT": str(free_port())},
                                   capture_output=True, timeout=30)  # fmt: skip
    assert healthy.returncode == 0 and elsewhere.returncode != 0
