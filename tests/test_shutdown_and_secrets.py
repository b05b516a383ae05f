"""SIGTERM under load loses no record; no provider key reaches the database or the log."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import httpx

from tests.conftest import SSE, served
from tests.emulators.openai import VALID_KEY, OpenAIEmulator

CHAT = "/api/engine/chat/openai"


async def _one(client: httpx.AsyncClient, i: int) -> bool:
    """True when the request was answered in full (a 200 body, or a stream through [DONE])."""
    stream = i % 2 == 0
    try:
        async with client.stream("POST", CHAT, headers=SSE, json={"model": "gpt-4o-mini", "chat_input": f"n{i}", "is_stream": stream}) as r:
            body = await r.aread()
        return r.status_code == 200 and (not stream or body.endswith(b"data: [DONE]\n\n"))
    except httpx.TransportError:
        return False


def test_sigterm_under_load_loses_no_record(tmp_path: Path, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.chunk_delay_s = 0.1  # each answer takes about 1.2 s upstream
    with served(tmp_path) as (port, process):

        async def load() -> list[bool]:
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, limits=limits) as client:
                tasks = [asyncio.create_task(_one(client, i)) for i in range(120)]
                deadline = time.monotonic() + 20
                while len(openai_emulator.requests) < 120 and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)  # until every request is in flight upstream
                assert len(openai_emulator.requests) == 120
                process.send_signal(signal.SIGTERM)
                while "Shutting down" not in (tmp_path / "server.log").read_text():
                    await asyncio.sleep(0.01)  # until the server has stopped accepting
                late = [asyncio.create_task(_one(client, 1000 + i)) for i in range(20)]
                return await asyncio.gather(*tasks, *late)

        results = asyncio.run(load())
        in_flight, late = results[:120], results[120:]
        assert all(in_flight)  # every request in flight at SIGTERM was finished
        assert not any(late)  # and none sent after it was taken
        answered = sum(results)
        # uvicorn shuts down cleanly, then re-raises the signal it caught
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in (tmp_path / "server.log").read_text()
    with sqlite3.connect(tmp_path / "llmgateway.db") as db:
        stored = db.execute("SELECT count(*) FROM requests").fetchone()[0]
        statuses = dict(db.execute("SELECT status, count(*) FROM requests GROUP BY status").fetchall())
    assert stored == answered, (stored, answered, statuses)
    assert statuses == {"success": answered}


def test_provider_keys_never_reach_the_database_or_the_log(tmp_path: Path, openai_emulator: OpenAIEmulator) -> None:
    body_key = "sk-proj-BODYKEY-do-not-store-0123456789"
    with served(tmp_path, LLMGATEWAY_LOG_LEVEL="debug") as (port, _process):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            assert c.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi"}).status_code == 200
            with c.stream("POST", CHAT, headers=SSE, json={"model": "gpt-4o-mini", "chat_input": "hi", "is_stream": True}) as s:
                s.read()
            # a wrong key from the body: the vendor quotes it back in its error
            r = c.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi", "api_key": body_key})
            assert r.status_code == 401 and body_key not in r.text
            assert len(c.get("/api/tracking/logs").json()) == 3
            csv_text = c.get("/api/tracking/logs", params={"format": "csv"}).text
    time.sleep(0.1)
    files = [p for p in tmp_path.iterdir() if p.is_file()]
    assert any(p.name == "llmgateway.db" for p in files) and any(p.name == "server.log" for p in files)
    for secret in (VALID_KEY, body_key, "BODYKEY"):
        for path in files:
            assert secret.encode() not in path.read_bytes(), (secret, path.name)
        assert secret not in csv_text
