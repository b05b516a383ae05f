"""What the gateway adds over a fast local upstream: throughput, latency and memory.

Starts the OpenAI emulator (no delay between chunks) and `llmgateway serve`, each in its own
process on loopback, then sends the same chat request straight to the upstream and through
the gateway at 1 and 32 concurrent connections, non-streaming and streaming, and prints a
table. Run from the repository root:

    .venv/bin/python bench/bench_gateway.py [--requests 400] [--tracking on|off] [--cache]

With `--cache` the gateway caches answers in memory, and the table compares misses (each
request new, so answered upstream and stored) with hits (the same request again).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.emulators.openai import VALID_KEY  # noqa: E402

BODY = {"model": "gpt-4o-mini", "chat_input": "Hello! Who are you?"}
UPSTREAM_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello! Who are you?"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def load(url: str, body: dict, concurrency: int, requests: int, headers: dict, vary: bool = False) -> tuple[float, list[float]]:
    """Send `requests` requests, `concurrency` at a time; returns (wall seconds, latencies).
    With `vary`, each request's `chat_input` is new (for the cache: every one a miss)."""
    latencies: list[float] = []
    queue = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=headers) as client:

        async def worker() -> None:
            for i in queue:
                sent = {**body, "chat_input": f"{body['chat_input']} #{i} {time.time_ns()}"} if vary else body
                started = time.perf_counter()
                async with client.stream("POST", url, json=sent) as response:
                    async for _chunk in response.aiter_raw():
                        pass
                    if response.status_code != 200:
                        raise RuntimeError(f"{url} answered {response.status_code}")
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def row(name: str, wall: float, latencies: list[float], cpu_ms: float | None) -> str:
    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    cpu = f"{cpu_ms:.2f}" if cpu_ms is not None else "-"
    return f"| {name} | {len(lat) / wall:.0f} | {p50:.2f} | {p99:.2f} | {cpu} |"


def cache_rows(pid: int, url: str, requests: int) -> list[str]:
    """Misses (new requests: upstream, then stored) against hits (the same request again)."""
    lines = []
    for stream in (False, True):
        mode = "streaming" if stream else "non-streaming"
        body = {**BODY, "is_stream": stream}
        for concurrency in (1, 32):
            for name, vary in (("miss", True), ("hit", False)):
                cpu_before = cpu_seconds(pid)
                wall, lat = asyncio.run(load(url, body, concurrency, requests, {}, vary=vary))
                cpu_ms = (cpu_seconds(pid) - cpu_before) / requests * 1000
                lines.append(row(f"{mode} cache {name}, c={concurrency}", wall, lat, cpu_ms))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--tracking", choices=["on", "off"], default="on")
    parser.add_argument("--cache", action="store_true", help="compare cache misses with hits (memory cache)")
    args = parser.parse_args()

    upstream_port, gateway_port = free_port(), free_port()
    workdir = tempfile.mkdtemp(prefix="llmgateway-bench-")
    upstream = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.emulators.openai:app", "--port", str(upstream_port),
         "--log-level", "warning", "--no-access-log"],
        cwd=ROOT,
    )  # fmt: skip
    env = {
        **os.environ,
        "OPENAI_API_KEY": VALID_KEY,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
        "LLMGATEWAY_TRACKING_ENABLED": "true" if args.tracking == "on" else "false",
        "LLMGATEWAY_LOG_LEVEL": "warning",
        "LLMGATEWAY_ACCESS_LOG": "false",  # measured apart: it writes a line per request
        "LLMGATEWAY_CACHE": "memory" if args.cache else "off",
    }
    gateway = subprocess.Popen(
        [str(Path(sys.executable).with_name("llmgateway")), "serve", "--port", str(gateway_port)], cwd=workdir, env=env
    )
    try:
        wait_until_up(f"http://127.0.0.1:{upstream_port}/")
        wait_until_up(f"http://127.0.0.1:{gateway_port}/health")
        rss_start = rss_mib(gateway.pid)
        direct = f"http://127.0.0.1:{upstream_port}/v1/chat/completions"
        through = f"http://127.0.0.1:{gateway_port}/api/engine/chat/openai"
        auth = {"Authorization": f"Bearer {VALID_KEY}"}
        lines = [
            f"tracking {args.tracking}, {args.requests} requests per row, {os.cpu_count()} CPU cores",
            "",
            "| path | req/s | p50 ms | p99 ms | gateway CPU ms/req |",
            "|---|---:|---:|---:|---:|",
        ]
        asyncio.run(load(through, BODY, 8, 50, {}))  # warm-up
        if args.cache:
            lines += cache_rows(gateway.pid, through, args.requests)
            print("\n".join(lines))
            return
        for stream in (False, True):
            for concurrency in (1, 32):
                mode = "streaming" if stream else "non-streaming"
                up_body = {**UPSTREAM_BODY, "stream": True, "stream_options": {"include_usage": True}}
                wall, lat = asyncio.run(load(direct, up_body, concurrency, args.requests, auth))
                lines.append(row(f"upstream direct, c={concurrency}", wall, lat, None))
                cpu_before = cpu_seconds(gateway.pid)
                wall, lat = asyncio.run(load(through, {**BODY, "is_stream": stream}, concurrency, args.requests, {}))
                cpu_ms = (cpu_seconds(gateway.pid) - cpu_before) / args.requests * 1000
                lines.append(row(f"gateway {mode}, c={concurrency}", wall, lat, cpu_ms))
        lines += ["", f"gateway RSS: {rss_start:.0f} MiB after start, {rss_mib(gateway.pid):.0f} MiB after the run"]
        print("\n".join(lines))
    finally:
        gateway.terminate()
        upstream.terminate()
        gateway.wait(timeout=60)
        upstream.wait(timeout=30)


if __name__ == "__main__":
    main()
