"""Shared fixtures: vendor emulators on loopback, and gateways served on real sockets."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
from hypothesis import settings as hypothesis_settings

from llmgateway.api.app import create_app
from llmgateway.cli import HTTP_PROTOCOL
from llmgateway.settings import Settings, reset_settings
from tests.emulators.anthropic import AnthropicEmulator
from tests.emulators.base import EmulatorState
from tests.emulators.bedrock import BedrockEmulator
from tests.emulators.gemini import GeminiEmulator
from tests.emulators.ollama import OllamaEmulator
from tests.emulators.openai import VALID_KEY, AzureOpenAIEmulator, OpenAIEmulator
from tests.emulators.server import ThreadServer, serve_in_thread

# Under CI nothing may be skipped: a test that cannot run there (no PostgreSQL, no Chromium,
# no tmpfs) fails, so a green CI means every test ran. Hypothesis runs the same examples on
# every CI run (a failure there is a finding to reproduce, not chance); locally it explores.
IN_CI = bool(os.environ.get("CI"))
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if IN_CI:
    hypothesis_settings.load_profile("ci")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where every test must run: {reason}"


# The engine API's SSE framing (its default is one JSON object per HTTP chunk, as LLMstudio's).
SSE = {"Accept": "text/event-stream"}

# Vendor variables a developer's shell may hold: tests must never see (or use) real ones.
_VENDOR_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "OLLAMA_HOST",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_VERTEX_BASE_URL",
)


@contextmanager
def _serving(emulator: EmulatorState, suffix: str = "") -> Iterator[EmulatorState]:
    with serve_in_thread(emulator.app) as url:  # type: ignore[attr-defined]
        emulator.base_url = f"{url}{suffix}"  # type: ignore[attr-defined]
        yield emulator


def _session_emulator(factory: Callable[[], EmulatorState], suffix: str = "") -> Any:
    """A session fixture serving one emulator on loopback for the whole run."""

    @pytest.fixture(scope="session")
    def server() -> Iterator[EmulatorState]:
        with _serving(factory(), suffix) as emulator:
            yield emulator

    return server


def _activate(server: Any, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Any:
    """A clean emulator, and the vendor variables that point the gateway at it."""
    server.reset()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return server


openai_emulator = _session_emulator(OpenAIEmulator, "/v1")
_azure_server = _session_emulator(AzureOpenAIEmulator)
_gemini_server = _session_emulator(GeminiEmulator)
_ollama_server = _session_emulator(OllamaEmulator)
_bedrock_server = _session_emulator(BedrockEmulator)
_anthropic_server = _session_emulator(AnthropicEmulator)


@pytest.fixture
def azure_emulator(_azure_server: AzureOpenAIEmulator, monkeypatch: pytest.MonkeyPatch) -> AzureOpenAIEmulator:
    return _activate(_azure_server, monkeypatch, {
        "AZURE_OPENAI_API_KEY": VALID_KEY,
        "AZURE_OPENAI_ENDPOINT": _azure_server.base_url,  # type: ignore[attr-defined]
        "OPENAI_API_VERSION": "2024-10-21",
    })  # fmt: skip


@pytest.fixture
def gemini_emulator(_gemini_server: GeminiEmulator, monkeypatch: pytest.MonkeyPatch) -> GeminiEmulator:
    return _activate(_gemini_server, monkeypatch, {
        "GEMINI_API_KEY": VALID_KEY,
        "GOOGLE_GEMINI_BASE_URL": _gemini_server.base_url,  # type: ignore[attr-defined]
    })  # fmt: skip


@pytest.fixture(scope="session")
def service_account_file(tmp_path_factory: pytest.TempPathFactory, _gemini_server: GeminiEmulator) -> Path:
    """A service-account key made here, whose token URI is the emulator's."""
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path_factory.mktemp("gcp") / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account",
        "project_id": "emulated-project",
        "private_key_id": "0123456789abcdef",
        "private_key": pem.decode(),
        "client_email": "gateway@emulated-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": f"{_gemini_server.base_url}/token",  # type: ignore[attr-defined]
    }))  # fmt: skip
    return path


@pytest.fixture
def vertex_emulator(
    _gemini_server: GeminiEmulator, service_account_file: Path, monkeypatch: pytest.MonkeyPatch
) -> GeminiEmulator:
    return _activate(_gemini_server, monkeypatch, {
        "GOOGLE_APPLICATION_CREDENTIALS": str(service_account_file),
        "GOOGLE_CLOUD_PROJECT": "emulated-project",
        "GOOGLE_CLOUD_LOCATION": "europe-west4",
        "GOOGLE_VERTEX_BASE_URL": _gemini_server.base_url,  # type: ignore[attr-defined]
    })  # fmt: skip


@pytest.fixture
def ollama_emulator(_ollama_server: OllamaEmulator, monkeypatch: pytest.MonkeyPatch) -> OllamaEmulator:
    return _activate(_ollama_server, monkeypatch, {"OLLAMA_HOST": _ollama_server.base_url})  # type: ignore[attr-defined]


@pytest.fixture
def bedrock_emulator(_bedrock_server: BedrockEmulator, monkeypatch: pytest.MonkeyPatch) -> BedrockEmulator:
    return _activate(_bedrock_server, monkeypatch, {
        "AWS_ACCESS_KEY_ID": "AKIAEMULATOR00000000",
        "AWS_SECRET_ACCESS_KEY": "emulator-secret-access-key-0123456789",
        "AWS_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": _bedrock_server.base_url,  # type: ignore[attr-defined]
    })  # fmt: skip


@pytest.fixture
def anthropic_emulator(_anthropic_server: AnthropicEmulator, monkeypatch: pytest.MonkeyPatch) -> AnthropicEmulator:
    return _activate(_anthropic_server, monkeypatch, {
        "ANTHROPIC_API_KEY": VALID_KEY,
        "ANTHROPIC_BASE_URL": _anthropic_server.base_url,  # type: ignore[attr-defined]
    })  # fmt: skip


@pytest.fixture(autouse=True)
def vendor_environment(openai_emulator: OpenAIEmulator) -> Iterator[None]:
    """Every test starts with the emulator as OpenAI, a valid server key, a clean emulator."""
    saved = {name: os.environ.get(name) for name in _VENDOR_VARIABLES}
    for name in _VENDOR_VARIABLES:
        os.environ.pop(name, None)
    os.environ["OPENAI_API_KEY"] = VALID_KEY
    os.environ["OPENAI_BASE_URL"] = openai_emulator.base_url  # type: ignore[attr-defined]
    openai_emulator.reset()
    reset_settings()
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    reset_settings()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings that ignore any `.env` of the developer and keep files in `tmp_path`."""
    defaults: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'llmgateway.db'}",
        "tracking_spill_path": tmp_path / "spill.jsonl",
        "tracking_dead_letter_path": tmp_path / "dead-letters.jsonl",
        "tracking_journal_dir": tmp_path / "journal",
        "retry_backoff_base_s": 0.01,
        "retry_backoff_max_s": 0.05,
        "tracking_flush_interval_s": 0.05,
        "access_log": False,  # tests that read access logs run `llmgateway serve`
    }
    return Settings(_env_file=None, **{**defaults, **overrides})  # type: ignore[call-arg]


def new_writer(store: Any, spill: Any, *, queue_size: int, batch_size: int, flush_interval_s: float,
               buffer_records: int = 1000, journal: Any = None) -> Any:
    """A request-log writer over `store`, its dead letters beside the spill file."""
    from llmgateway.tracking.spill import DeadLetterFile
    from llmgateway.tracking.writer import TrackingWriter

    dead_letters = DeadLetterFile(spill.path.with_name("dead-letters.jsonl"))
    return TrackingWriter(store, spill, dead_letters, journal, queue_size=queue_size, batch_size=batch_size,
                          flush_interval_s=flush_interval_s, buffer_records=buffer_records)  # fmt: skip


@contextmanager
def running_gateway(settings: Settings) -> Iterator[str]:
    """A gateway app served by uvicorn on a loopback socket; yields its base URL."""
    with serve_in_thread(create_app(settings), lifespan="on") as url:
        yield url


@pytest.fixture(scope="module")
def shared_gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One gateway for a whole module of tests that change nothing in it but its log (each
    provider's configuration is read at its first use, from the emulator fixtures' variables,
    which are the same in every test)."""
    with running_gateway(make_settings(tmp_path_factory.mktemp("shared-gateway"))) as url:
        yield url


_STOPPING: list[ThreadServer] = []  # gateways of tests that have ended, shutting down meanwhile


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start gateways with setting overrides; each is stopped at the end of the test.

    Their shutdown (uvicorn's: at least 0.1 s of waiting for connections, then the lifespan's
    end) runs while the next test runs: a test waits only for the gateways of the test before
    it, and none outlives the session. Nothing of a test reads its gateway after it ends.
    """
    started: list[ThreadServer] = []

    def start(**overrides: Any) -> str:
        server = ThreadServer(create_app(make_settings(tmp_path, **overrides)), lifespan="on", http=HTTP_PROTOCOL)
        started.append(server)
        return server.url

    yield start
    while _STOPPING:
        _STOPPING.pop().join()
    for server in started:
        server.stop()
    _STOPPING.extend(started)


@pytest.fixture(scope="session", autouse=True)
def _no_gateway_outlives_the_session() -> Iterator[None]:
    yield
    while _STOPPING:
        _STOPPING.pop().join()


POSTGRES_ADMIN_DSN = os.environ.get("LLMGATEWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped after use."""
    name = f"llmgw_{uuid.uuid4().hex[:12]}"
    try:
        _postgres_admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncio.TimeoutError) as exc:
        pytest.skip(f"no PostgreSQL reachable at {POSTGRES_ADMIN_DSN}: {exc}")
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped after it."""
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each tracking test runs on a real SQLite file and on a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def gateway_url(gateway_factory: Callable[..., str]) -> str:
    return gateway_factory()


@pytest.fixture
def client(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, timeout=30) as c:
        yield c


ENTRY_POINT = Path(sys.executable).with_name("llmgateway")


def _one_tls_context_per_setting() -> None:
    """httpx builds a TLS context for every client it makes (25 ms here: it reads certifi's CA
    bundle), `httpx.get` and `httpx.post` included, and the tests make thousands of one-off
    clients to loopback. The default context is built once and shared (a context is made to
    be shared); any other verification setting is built as asked."""
    from httpx._transports import default as transports

    build = transports.create_ssl_context
    built: dict[bool, Any] = {}

    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        if verify is True and cert is None:
            if trust_env not in built:
                built[trust_env] = build(verify=True, cert=None, trust_env=trust_env)
            return built[trust_env]
        return build(verify=verify, cert=cert, trust_env=trust_env)

    transports.create_ssl_context = create_ssl_context


_one_tls_context_per_setting()


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Wait for what another process or task does in its own time; fail with `what` if it never does."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def ready_after_the_warm_up(url: str, timeout_s: float = 30.0) -> httpx.Response:
    """`/health/ready` once the gateway's warm-up is over (it answers 503 `warming` until then)."""
    deadline = time.monotonic() + timeout_s
    while (ready := httpx.get(f"{url}/health/ready", timeout=10)).json()["status"] == "warming":
        assert time.monotonic() < deadline, "the warm-up did not end"
        time.sleep(0.02)
    return ready


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(workdir: Path, **env: str) -> Iterator[tuple[int, subprocess.Popen]]:
    """`llmgateway serve` in its own process, through its entry point, in `workdir`.

    Its output goes to workdir/server.log. Yields (port, process) once /health answers.
    """
    port = free_port()
    log = open(workdir / "server.log", "wb")
    process = subprocess.Popen(
        [str(ENTRY_POINT), "serve", "--port", str(port)],
        cwd=workdir,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llmgateway serve did not start:\n{(workdir / 'server.log').read_text()}")
            time.sleep(0.1)
        yield port, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=60)
        log.close()


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self._workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True).stdout.strip() != "PONG":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)


@contextmanager
def running_redis(workdir: Path) -> Iterator[RedisServer]:
    """A redis-server on a free loopback port, stopped after use."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, on a free loopback port: a test may stop and start it."""
    with running_redis(tmp_path) as server:
        yield server
