"""Shared fixtures: vendor emulators on loopback, and gateways served on real sockets."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from llmgateway.api.app import create_app
from llmgateway.settings import Settings, reset_settings
from tests.emulators.openai import VALID_KEY, OpenAIEmulator
from tests.emulators.server import serve_in_thread

# Vendor variables a developer's shell may hold: tests must never see (or use) real ones.
_VENDOR_VARIABLES = ("OPENAI_API_KEY", "OPENAI_BASE_URL")


@pytest.fixture(scope="session")
def openai_emulator() -> Iterator[OpenAIEmulator]:
    emulator = OpenAIEmulator()
    with serve_in_thread(emulator.app) as url:
        emulator.base_url = f"{url}/v1"  # type: ignore[attr-defined]
        yield emulator


@pytest.fixture(autouse=True)
def vendor_environment(openai_emulator: OpenAIEmulator) -> Iterator[None]:
    """Every test starts with the emulator as OpenAI, a valid server key, a clean emulator."""
    saved = {name: os.environ.get(name) for name in _VENDOR_VARIABLES}
    os.environ["OPENAI_API_KEY"] = VALID_KEY
    os.environ["OPENAI_BASE_URL"] = openai_emulator.base_url  # type: ignore[attr-defined]
    openai_emulator.requests.clear()
    openai_emulator.headers.clear()
    openai_emulator.faults.clear()
    openai_emulator.chunk_delay_s = 0.0
    openai_emulator.usage_extra = {}
    reset_settings()
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    reset_settings()


def test_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings that ignore any `.env` of the developer and keep files in `tmp_path`."""
    defaults: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'llmgateway.db'}",
        "tracking_spill_path": tmp_path / "spill.jsonl",
        "retry_backoff_base_s": 0.01,
        "retry_backoff_max_s": 0.05,
    }
    return Settings(_env_file=None, **{**defaults, **overrides})  # type: ignore[call-arg]


@contextmanager
def running_gateway(settings: Settings) -> Iterator[str]:
    """A gateway app served by uvicorn on a loopback socket; yields its base URL."""
    with serve_in_thread(create_app(settings), lifespan="on") as url:
        yield url


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start gateways with setting overrides; each is stopped at the end of the test."""
    stack: list[Any] = []

    def start(**overrides: Any) -> str:
        cm = running_gateway(test_settings(tmp_path, **overrides))
        url = cm.__enter__()
        stack.append(cm)
        return url

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


@pytest.fixture
def gateway_url(gateway_factory: Callable[..., str]) -> str:
    return gateway_factory()


@pytest.fixture
def client(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, timeout=30) as c:
        yield c
