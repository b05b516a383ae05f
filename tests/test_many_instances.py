"""Several `llmgateway serve` processes with one PostgreSQL and one Redis behave as one gateway.

Redis here is a `redis-server` of the test's own (on a free loopback port), so that a test can
stop it mid-run without touching anything else.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import SSE, RedisServer, ready_after_the_warm_up, served, wait_until
from tests.emulators.base import Fault
from tests.emulators.openai import DEFAULT_REPLY, OpenAIEmulator

ROUTE = "routes:\n  pair:\n    targets:\n      - {model: openai/gpt-4o, weight: 1000}\n      - {model: mock/echo, weight: 1}\n"


def health(port: int) -> dict[str, Any]:
    return httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()


def gateways(stack: ExitStack, tmp_path: Path, count: int, **env: str) -> list[tuple[int, subprocess.Popen]]:
    tmp_path.mkdir(exist_ok=True)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(ROUTE)
    started = []
    for i in range(count):
        (tmp_path / f"g{i}").mkdir()
        started.append(stack.enter_context(served(tmp_path / f"g{i}", LLMGATEWAY_CATALOG=str(catalog),
                                                  LLMGATEWAY_COOLDOWN_FAILURES="1", LLMGATEWAY_COOLDOWN_S="60", **env)))  # fmt: skip
    return started


def _cool_the_heavy_deployment(port: int, openai_emulator: OpenAIEmulator) -> None:
    """Through one instance: the heavy deployment (gpt-4o) fails once, so it cools down."""
    openai_emulator.faults.append(Fault("status", status=503))
    body = {"model": "pair", "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 200 and r.json()["provider"] == "mock"  # the other deployment served
    assert [(a["model"], a["status_code"]) for a in r.json()["attempts"]] == [("gpt-4o", 502)]


def test_three_instances_share_sessions_cooldowns_and_one_log(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer, openai_emulator: OpenAIEmulator
) -> None:
    with ExitStack() as stack:
        (a, _), (b, _), (c, process_c) = gateways(stack, tmp_path, 3, LLMGATEWAY_DATABASE_URL=postgres_url,
                                                  LLMGATEWAY_REDIS_URL=redis_server.url)  # fmt: skip
        ports = [a, b, c]
        # a session continues on whichever instance takes the next turn
        for turn, port in enumerate(ports, start=1):
            body = {"model": "gpt-4o-mini", "chat_input": f"turn {turn}", "session_id": "across"}
            assert httpx.post(f"http://127.0.0.1:{port}/api/engine/chat/openai", json=body, timeout=30).status_code == 200
        assert [m["content"] for m in openai_emulator.requests[-1]["messages"]] == [
            "turn 1", DEFAULT_REPLY, "turn 2", DEFAULT_REPLY, "turn 3"]  # fmt: skip

        # a deployment cooled through one instance is skipped by the others
        _cool_the_heavy_deployment(a, openai_emulator)
        wait_until(lambda: all(health(port)["cooling_deployments"] == 1 for port in ports), "the cooldown reached every instance")
        openai_emulator.requests.clear()
        for port in (b, c) * 5:
            r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                           json={"model": "pair", "messages": [{"role": "user", "content": "x"}]}, timeout=30)  # fmt: skip
            assert r.status_code == 200 and r.json()["attempts"] == []
        assert openai_emulator.requests == []  # no instance tried the cooling deployment

        # SIGTERM to one instance under load: the others fail nothing; what it answered is recorded
        outcome = asyncio.run(_load_then_sigterm(ports, process_c))
        assert outcome["failed_elsewhere"] == [] and outcome["incomplete"] == 0
        assert outcome["answered"][c] > 0 and outcome["refused_after_signal"] > 0
        answered = sum(outcome["answered"].values())

        def streamed() -> list[dict[str, Any]]:  # every instance's records, in the one database
            rows = httpx.get(f"http://127.0.0.1:{a}/api/tracking/logs", params={"limit": 1000, "provider": "mock"}, timeout=30)
            return [row for row in rows.json() if row["model"] == "fixed"]

        wait_until(lambda: len(streamed()) >= answered, "the instances flushed their records")
        assert len(streamed()) == answered and all(row["status"] == "success" for row in streamed())


async def _load_then_sigterm(ports: list[int], victim: subprocess.Popen) -> dict[str, Any]:
    """Streams spread over the instances; the last one gets SIGTERM mid-run. A request sent
    to it after the signal may be refused (a load balancer would stop sending); any other
    failure, or an answer cut short, is counted."""
    answered = {port: 0 for port in ports}
    failed_elsewhere: list[str] = []
    incomplete = 0
    refused_after_signal = 0
    signalled = asyncio.Event()
    body = {"model": "fixed", "chat_input": "hi", "is_stream": True, "parameters": {"chunk_gap_s": 0.02}}

    async def one(client: httpx.AsyncClient, port: int) -> None:
        nonlocal incomplete, refused_after_signal
        sent_after_signal = signalled.is_set()
        try:
            async with client.stream("POST", f"http://127.0.0.1:{port}/api/engine/chat/mock", json=body, headers=SSE) as r:
                text = (await r.aread()).decode()
        except httpx.TransportError as exc:
            if port == ports[-1] and sent_after_signal:
                refused_after_signal += 1
            else:
                failed_elsewhere.append(f"{port}: {type(exc).__name__}")
            return
        if r.status_code != 200:
            failed_elsewhere.append(f"{port}: {r.status_code}")
        elif not text.endswith("data: [DONE]\n\n"):
            incomplete += 1
        else:
            answered[port] += 1

    async with httpx.AsyncClient(timeout=30) as client:
        tasks = []
        for i in range(240):
            if i == 120:
                victim.send_signal(signal.SIGTERM)
                signalled.set()
            tasks.append(asyncio.create_task(one(client, ports[i % len(ports)])))
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
    victim.wait(timeout=30)
    return {"answered": answered, "failed_elsewhere": failed_elsewhere, "incomplete": incomplete,
            "refused_after_signal": refused_after_signal}  # fmt: skip


def test_redis_down_mid_run_fails_no_request_and_comes_back(
    tmp_path: Path, redis_server: RedisServer, openai_emulator: OpenAIEmulator
) -> None:
    """Documented behaviour: with Redis down, requests go on (no 5xx), `/health/ready` says
    so, each process counts cooldowns alone; when Redis is back, the instances share again."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    with ExitStack() as stack:
        (a, _), (b, _) = gateways(stack, tmp_path, 2, LLMGATEWAY_DATABASE_URL=database, LLMGATEWAY_REDIS_URL=redis_server.url)
        assert ready_after_the_warm_up(f"http://127.0.0.1:{a}").json() == {"status": "ready", "checks": {"database": True, "redis": True}}
        redis_server.stop()
        body = {"model": "pair", "messages": [{"role": "user", "content": "hi"}]}
        for port in (a, b) * 5:
            assert httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=30).status_code == 200
        ready = httpx.get(f"http://127.0.0.1:{a}/health/ready")
        assert ready.status_code == 503 and ready.json()["checks"] == {"database": True, "redis": False}
        _cool_the_heavy_deployment(a, openai_emulator)  # counted by this process alone
        assert health(a)["cooling_deployments"] == 1 and health(b)["cooling_deployments"] == 0
        redis_server.start()
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{b}/health/ready").status_code == 200, "ready again")
        openai_emulator.faults.append(Fault("status", status=503))
        r = httpx.post(f"http://127.0.0.1:{b}/v1/chat/completions", json=body, timeout=30)
        assert r.status_code == 200 and [a["status_code"] for a in r.json()["attempts"]] == [502]
        wait_until(lambda: health(a)["cooling_deployments"] == 1 and health(b)["cooling_deployments"] == 1, "shared again")


def test_a_prefix_keeps_gateways_on_one_redis_apart(
    tmp_path: Path, redis_server: RedisServer, openai_emulator: OpenAIEmulator
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    with ExitStack() as stack:
        (team_a, _), (team_a_too, _) = gateways(stack, tmp_path / "a", 2, LLMGATEWAY_DATABASE_URL=database,
                                                LLMGATEWAY_REDIS_URL=redis_server.url, LLMGATEWAY_REDIS_PREFIX="team-a")  # fmt: skip
        ((team_b, _),) = gateways(stack, tmp_path / "b", 1, LLMGATEWAY_DATABASE_URL=database,
                                  LLMGATEWAY_REDIS_URL=redis_server.url, LLMGATEWAY_REDIS_PREFIX="team-b")  # fmt: skip
        _cool_the_heavy_deployment(team_a, openai_emulator)
        wait_until(lambda: health(team_a_too)["cooling_deployments"] == 1, "shared within the prefix")
        assert health(team_b)["cooling_deployments"] == 0


async def test_a_redis_that_never_answers_holds_nothing_up(tmp_path: Path) -> None:
    """A Redis that accepts connections and never replies: each write gives up after
    `redis_timeout_s`, and start-up goes on with the process's own state."""
    from llmgateway.shared.redis_state import RedisState
    from tests.conftest import make_settings

    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    state = RedisState(make_settings(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_s=0.05))
    mirrored: list[tuple[str, int, float]] = []
    await asyncio.wait_for(state.cooldowns.start(lambda *change: mirrored.append(change)), timeout=5)
    state.cooldowns.failed("d")
    state.cooldowns.succeeded("d")
    writes = set(state.cooldowns._writes)
    done, pending = await asyncio.wait(writes, timeout=5)  # far past 0.05 s; forever without the bound
    assert len(done) == 2 and not pending and mirrored == []
    assert await state.reachable() is False
    await state.aclose()
    silent.close()
