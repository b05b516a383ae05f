"""`llmgateway serve`, started through its entry point, answering the reference curl."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Iterator

import httpx
import httpx2
import pytest

from llmgateway.api.app import create_app
from llmgateway.core.gateway import Gateway
from llmgateway.providers.pool import tls_context
from llmgateway.version import __version__
from llmgateway.workers import spreads_connections
from tests.conftest import ENTRY_POINT, SSE, free_port, make_settings, ready_after_the_warm_up, served
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


def _children(pid: int) -> list[int]:
    """The live child processes of `pid` (Linux /proc)."""
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]  # fmt: skip


def _listening_sockets(port: int) -> set[str]:
    """The inodes of the IPv4 sockets listening on `port` (Linux /proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
            inodes.add(fields[9])
    return inodes


def _sockets_of(pid: int) -> set[str]:
    """The inodes of the sockets process `pid` holds open (a descriptor closed meanwhile is skipped)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes.add(link[len("socket:[") : -1])
    return inodes


@pytest.mark.skipif(not spreads_connections(), reason="SO_REUSEPORT spreads connections on Linux only")
def test_serve_takes_host_port_and_workers_from_the_environment(tmp_path: Path, openai_emulator: OpenAIEmulator) -> None:
    """LLMGATEWAY_HOST, LLMGATEWAY_PORT and LLMGATEWAY_WORKERS, with no option given: two
    worker processes serve the port, each listening on a socket of its own, so that new
    connections are spread over both (the access log names the worker that answered)."""
    port = free_port()
    env = {**os.environ, "LLMGATEWAY_HOST": "127.0.0.1", "LLMGATEWAY_PORT": str(port), "LLMGATEWAY_WORKERS": "2"}
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen([str(ENTRY_POINT), "serve"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            workers: list[int] = []
            while len(workers) < 2 or len(_listening_sockets(port)) < 2 or not _answers(f"http://127.0.0.1:{port}/health"):
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                workers = [pid for pid in _children(process.pid) if "llmgateway" in _cmdline(pid) or "spawn" in _cmdline(pid)]
                time.sleep(0.1)
            assert len(workers) == 2
            listening = _listening_sockets(port)
            assert [len(listening & _sockets_of(pid)) for pid in workers] == [1, 1]
            assert not listening & _sockets_of(workers[0]) & _sockets_of(workers[1])
            for i in range(40):  # a new connection each: the kernel spreads them by their addresses
                r = httpx.post(f"http://127.0.0.1:{port}/api/engine/chat/openai", json={"model": "gpt-4o-mini", "chat_input": f"n{i}"})
                assert r.status_code == 200
        finally:
            process.terminate()
            process.wait(timeout=60)
    lines = [json.loads(line) for line in (tmp_path / "server.log").read_text().splitlines() if line.startswith("{")]
    serving = {line["pid"] for line in lines if line["path"] == "/api/engine/chat/openai"}
    assert serving == set(workers)  # all 40 on one worker: one chance in 2**39


def test_a_second_gateway_on_a_port_in_use_does_not_start(tmp_path: Path, openai_emulator: OpenAIEmulator) -> None:
    """Workers that bind their own sockets must not share a port with another server, not
    even with a gateway whose workers bind theirs too: the second `llmgateway serve --workers 2`
    on a port already served exits, as one worker would."""
    with served(tmp_path, LLMGATEWAY_WORKERS="2") as (port, _process):
        second = subprocess.run([str(ENTRY_POINT), "serve", "--port", str(port), "--workers", "2"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert second.returncode == 3, second.stderr
        assert "Address already in use" in second.stderr
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_shutdown_grace_cuts_what_is_still_running_and_records_it(tmp_path: Path, openai_emulator: OpenAIEmulator) -> None:
    """LLMGATEWAY_SHUTDOWN_GRACE_S: a stream still running when the grace ends is cut, and its
    record says cancelled, with what was streamed (a request that finishes in time is the
    SIGTERM test's)."""
    openai_emulator.chunk_delay_s = 1.0  # 12 pieces: 12 s upstream, far past the grace
    with served(tmp_path, LLMGATEWAY_SHUTDOWN_GRACE_S="1") as (port, process):
        with httpx.Client(timeout=30) as client, client.stream(
            "POST", f"http://127.0.0.1:{port}/api/engine/chat/openai", headers=SSE,
            json={"model": "gpt-4o-mini", "chat_input": "long", "is_stream": True},
        ) as r:  # fmt: skip
            lines = r.iter_lines()
            while '"chat_output_stream":"Hello!"' not in next(lines):
                pass  # the first piece has arrived: the stream is running
            process.send_signal(signal.SIGTERM)
            with pytest.raises(httpx.RemoteProtocolError):
                for _ in lines:
                    pass
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    with sqlite3.connect(tmp_path / "llmgateway.db") as db:
        rows = db.execute("SELECT status, chat_output FROM requests").fetchall()
    assert len(rows) == 1 and rows[0][0] == "cancelled" and rows[0][1].startswith("Hello!")


def test_serve_help_names_its_options() -> None:
    result = subprocess.run([str(ENTRY_POINT), "serve", "--help"], capture_output=True, text=True, check=True)
    for option in ("--host", "--port", "--workers"):
        assert option in result.stdout


STARTUP_PROBE = """
import asyncio, sys
from llmgateway.api.app import create_app

SDKS = ("openai", "anthropic", "google.genai", "aiobotocore", "ollama")
app = create_app()

async def main():
    async with app.router.lifespan_context(app):
        serving = [m for m in SDKS if m in sys.modules]  # the server would be answering now
        await app.state.warming
        print(serving, [m for m in SDKS if m in sys.modules], sorted(app.state.gateway.adapters._adapters),
              "tokenizer:", "tiktoken" in sys.modules, "alembic:", "alembic" in sys.modules,
              "tracing SDK:", "opentelemetry.sdk" in sys.modules, "async engine:", "sqlalchemy.ext.asyncio" in sys.modules)

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("ollama_env", "warmed"),
    [({}, "['openai'] ['openai']"), ({"OLLAMA_HOST": "http://127.0.0.1:9"}, "['openai', 'ollama'] ['ollama', 'openai']")],
    ids=["ollama-on-defaults", "ollama-configured"],
)
def test_start_loads_no_sdk_and_warms_only_configured_providers_afterwards(
    tmp_path: Path, ollama_env: dict[str, str], warmed: str
) -> None:
    """The server is up before any vendor SDK is imported; then only the providers the operator
    configured are loaded, so an unused provider costs no start-up time or memory: Ollama,
    ready on its default local address, waits for its first request unless OLLAMA_HOST is set.
    The tokenizer too waits for the first count a vendor did not report, a new request log is
    created without Alembic (test_tracking.py holds its schema to the migrations'), and the
    tracing SDK is not imported while tracing is off. On SQLite, records are written through a
    synchronous engine, and the async engine (with the ORM SQLAlchemy's asyncio extension
    imports) waits for the first read of the log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "ANTHROPIC", "GOOGLE", "GEMINI", "AWS", "AZURE", "OLLAMA"))}  # fmt: skip
    env.update(HOME=str(tmp_path), OPENAI_API_KEY="sk-configured", LLMGATEWAY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'log.db'}", **ollama_env)  # fmt: skip
    out = subprocess.run([str(ENTRY_POINT.with_name("python")), "-c", STARTUP_PROBE], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=True).stdout  # fmt: skip
    assert out.strip() == f"[] {warmed} tokenizer: False alembic: False tracing SDK: False async engine: False"


async def test_the_warm_up_makes_the_one_tls_context_so_the_first_request_reads_no_ca_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process's one TLS context (the CA bundle read and parsed: 17-36 ms on this machine,
    ~1 MiB) is made by the warm-up, and shared by the provider's HTTP client and its pooled
    session: the first request after the warm-up makes none, and costs what the later ones do."""
    made: list[str] = []
    make_tls = httpx2.create_ssl_context
    monkeypatch.setattr(httpx2, "create_ssl_context", lambda *args, **kwargs: made.append("tls") or make_tls(*args, **kwargs))
    tls_context.cache_clear()  # as in a new process
    app = create_app(make_settings(tmp_path))
    async with app.router.lifespan_context(app):
        await app.state.warming
        by_the_warm_up = len(made)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            response = await client.post("/api/engine/chat/openai", json={"model": "gpt-4o-mini", "chat_input": "hi"})
    assert response.status_code == 200 and response.json()["chat_output"] == DEFAULT_REPLY
    assert by_the_warm_up == 1 and len(made) == by_the_warm_up


async def test_readiness_waits_for_the_warm_up_while_liveness_does_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """An orchestrator sends traffic once `/health/ready` says so: a request that came during the
    warm-up would wait for the configured providers' SDKs, so readiness waits for it too."""
    release = asyncio.Event()
    warm_up = Gateway.warm_up

    async def held_warm_up(gateway: Gateway, readiness: dict[str, list[str]]) -> None:
        await release.wait()
        await warm_up(gateway, readiness)

    monkeypatch.setattr(Gateway, "warm_up", held_warm_up)
    app = create_app(make_settings(tmp_path))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            warming, live = await client.get("/health/ready"), await client.get("/health/live")
            release.set()
            await app.state.warming
            ready = await client.get("/health/ready")
    assert warming.status_code == 503 and warming.json() == {"status": "warming", "checks": {}}
    assert live.json() == {"status": "live"}
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "checks": {"database": True}}


GOVERNED_PROBE = """
import asyncio, sys
from llmgateway.api.app import create_app

app = create_app()

async def main():
    async with app.router.lifespan_context(app):
        serving = "sqlalchemy.ext.asyncio" in sys.modules  # the server would be answering now
        await app.state.warming
        print(serving, app.state.tracker.store._engine is not None)

asyncio.run(main())
"""


def test_with_virtual_keys_the_warm_up_makes_the_logs_async_engine(tmp_path: Path) -> None:
    """Virtual keys are read from the database on every request: where a master key turns them
    on, the warm-up makes the async engine after the server is up, so the first request does
    not import it."""
    env = {**os.environ, "HOME": str(tmp_path), "OPENAI_API_KEY": "sk-configured", "LLMGATEWAY_MASTER_KEY": "sk-master-0123456789",
           "LLMGATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"}  # fmt: skip
    out = subprocess.run([str(ENTRY_POINT.with_name("python")), "-c", GOVERNED_PROBE], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=True).stdout  # fmt: skip
    assert out.strip() == "False True"


SERVING_PROBE = """
import sys, threading, time, urllib.request
from llmgateway import cli

threading.Thread(target=cli.main, args=(["serve", "--host", "127.0.0.1", "--port", sys.argv[1]],), daemon=True).start()
for _ in range(300):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
print("httpx:", "httpx" in sys.modules, "websockets:", "websockets" in sys.modules)
"""


def test_serve_loads_neither_the_clients_http_library_nor_websockets(tmp_path: Path) -> None:
    """`llmgateway serve` answers without the Python client's httpx (the command imports only
    the client's errors) and without websockets, which uvicorn would import for a WebSocket
    protocol the gateway has no route for: 1.6 MiB of memory at start between them."""
    env = {**os.environ, "HOME": str(tmp_path), "LLMGATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"}
    out = subprocess.run([str(ENTRY_POINT.with_name("python")), "-c", SERVING_PROBE, str(free_port())], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True).stdout  # fmt: skip
    assert out.strip() == "httpx: False websockets: False"


HEAP_PROBE = """
import asyncio, gc
from llmgateway.api.app import create_app

app = create_app()

async def main():
    async with app.router.lifespan_context(app):
        serving = gc.get_freeze_count()  # the server would be answering now
        await app.state.warming
        print(serving, gc.get_freeze_count() > 100_000, gc.get_threshold())

asyncio.run(main())
"""


def test_once_warm_the_start_up_heap_is_frozen(tmp_path: Path) -> None:
    """After the warm-up the objects start-up left alive are out of the collector's
    generations, and the young generation is collected in larger batches (api/heap.py)."""
    env = {**os.environ, "HOME": str(tmp_path), "OPENAI_API_KEY": "sk-configured",
           "LLMGATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"}  # fmt: skip
    out = subprocess.run([str(ENTRY_POINT.with_name("python")), "-c", HEAP_PROBE], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=True).stdout  # fmt: skip
    assert out.strip() == "0 True (20000, 50, 100)"


def test_start_banner_says_where_to_go_what_is_ready_and_where_records_go(tmp_path: Path, openai_emulator: OpenAIEmulator) -> None:  # fmt: skip
    with served(tmp_path, HOME=str(tmp_path)) as (port, _process):
        log = (tmp_path / "server.log").read_text()
    base = f"http://127.0.0.1:{port}"
    banner = log[log.index("llmgateway ") :].splitlines()
    assert banner[0].startswith(f"llmgateway {__version__} on {base} (pid ")
    assert banner[1:6] == [
        f"  dashboard   {base}/dashboard/",
        f"  API docs    {base}/docs",
        f"  records     SQLite {tmp_path.resolve() / 'llmgateway.db'}",
        "  ready       openai, ollama, mock",
        "  not ready",
    ]
    assert "    anthropic: set ANTHROPIC_API_KEY" in banner
    assert "    bedrock: set AWS credentials (e.g. AWS_ACCESS_KEY_ID or ~/.aws/credentials)" in banner


def test_sigterm_turns_readiness_off_while_it_still_serves_then_exits(tmp_path: Path, openai_emulator: OpenAIEmulator) -> None:  # fmt: skip
    """With LLMGATEWAY_DRAIN_S, SIGTERM first makes `/health/ready` a 503 `draining` while
    requests are still answered; the server stops only after the drain."""
    with served(tmp_path, LLMGATEWAY_DRAIN_S="4") as (port, process):
        base = f"http://127.0.0.1:{port}"
        assert ready_after_the_warm_up(base).json()["status"] == "ready"
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 3
        while (ready := httpx.get(f"{base}/health/ready")).status_code == 200:
            assert time.monotonic() < deadline, "readiness did not turn off"
            time.sleep(0.02)
        assert ready.status_code == 503 and ready.json() == {"status": "draining", "checks": {}}
        served_while_draining = httpx.post(f"{base}/api/engine/chat/openai", json={"model": "gpt-4o-mini", "chat_input": "hi"})
        assert served_while_draining.status_code == 200 and process.poll() is None
        assert process.wait(timeout=30) == -signal.SIGTERM  # uvicorn ends by re-raising the signal it took
