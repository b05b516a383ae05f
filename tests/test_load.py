"""Load on loopback, bounded in count and time: many streams at once, and many in a row.

The gateway runs as `llmgateway serve` in its own process; its memory is read from /proc.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.conftest import SSE, served
from tests.emulators.openai import DEFAULT_REPLY, OpenAIEmulator
from tests.http_load import load_session, post

pytestmark = pytest.mark.slow

CHAT = "/api/engine/chat/openai"
CONCURRENT_STREAMS = 500
IN_A_ROW = 5_000
# What 500 open streams leave behind: pooled keep-alive connections upstream and Python's own
# allocator pools. A second burst must then cost nothing more.
RETURN_MARGIN_MIB = 60
SECOND_BURST_BOUND_MIB = 10
LEAK_BOUND_MIB = 15


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def flush_the_records(port: int) -> None:
    """Wait until the writer has stored every record so far (reading the log flushes it first)."""
    assert httpx.get(f"http://127.0.0.1:{port}/api/tracking/logs", params={"limit": 1}, timeout=60).status_code == 200


async def _stream(session: aiohttp.ClientSession, base: str, i: int) -> bool:
    body = {"model": "gpt-4o-mini", "chat_input": f"s{i}", "is_stream": True}
    answer = await post(session, base + CHAT, body, SSE)
    return answer.status_code == 200 and answer.content.endswith(b"data: [DONE]\n\n") and DEFAULT_REPLY.split()[-1].encode() in answer.content


async def _many_at_once(port: int, openai_emulator: OpenAIEmulator) -> tuple[int, int]:
    async with load_session(CONCURRENT_STREAMS + 10, timeout_s=120) as session:
        openai_emulator.requests.clear()
        tasks = [asyncio.create_task(_stream(session, f"http://127.0.0.1:{port}", i)) for i in range(CONCURRENT_STREAMS)]
        peak_in_flight = 0
        while not all(t.done() for t in tasks):
            in_flight = len(openai_emulator.requests) - sum(t.done() for t in tasks)
            peak_in_flight = max(peak_in_flight, in_flight)
            await asyncio.sleep(0.05)
        return sum(t.result() for t in tasks), peak_in_flight


def test_500_concurrent_streams_and_memory_returns(tmp_path: Path, openai_emulator: OpenAIEmulator) -> None:
    with served(tmp_path, LLMGATEWAY_LOG_LEVEL="warning") as (port, process):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            for _ in range(20):
                c.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "warm"})
        openai_emulator.chunk_delay_s = 0.25  # each stream of a burst lasts about 3 s upstream
        baseline = rss_mib(process.pid)
        started = time.monotonic()
        ok, peak = asyncio.run(_many_at_once(port, openai_emulator))
        elapsed = time.monotonic() - started
        flush_the_records(port)
        after = rss_mib(process.pid)
        ok_again, _ = asyncio.run(_many_at_once(port, openai_emulator))
        flush_the_records(port)
        after_again = rss_mib(process.pid)
    print(f"load: {ok}+{ok_again} of 2x{CONCURRENT_STREAMS} streams ok, {peak} in flight at once, {elapsed:.1f} s "
          f"a burst; RSS {baseline:.0f} MiB before, {after:.0f} after one burst, {after_again:.0f} after two")  # fmt: skip
    assert ok == ok_again == CONCURRENT_STREAMS  # zero errors
    assert peak >= 0.9 * CONCURRENT_STREAMS  # they were held at the same time
    assert after <= baseline + RETURN_MARGIN_MIB
    assert after_again <= after + SECOND_BURST_BOUND_MIB


async def _in_a_row(port: int, count: int, concurrency: int = 16) -> int:
    queue = iter(range(count))
    ok = 0
    async with load_session(concurrency) as session:

        async def worker() -> None:
            nonlocal ok
            for i in queue:
                body = {"model": "gpt-4o-mini", "chat_input": f"n{i}", "is_stream": i % 2 == 0}
                answer = await post(session, f"http://127.0.0.1:{port}{CHAT}", body)
                ok += answer.status_code == 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok


def test_5000_requests_in_a_row_do_not_leak(tmp_path: Path, openai_emulator: OpenAIEmulator) -> None:
    with served(tmp_path, LLMGATEWAY_LOG_LEVEL="warning") as (port, process):
        assert asyncio.run(_in_a_row(port, 1_000)) == 1_000  # warm: pools, caches, allocator
        warm = rss_mib(process.pid)
        started = time.monotonic()
        assert asyncio.run(_in_a_row(port, IN_A_ROW)) == IN_A_ROW
        elapsed = time.monotonic() - started
        flush_the_records(port)
        after = rss_mib(process.pid)
    print(f"leak: {IN_A_ROW} requests in {elapsed:.1f} s; RSS {warm:.1f} MiB warm, {after:.1f} MiB after")
    assert after - warm <= LEAK_BOUND_MIB
