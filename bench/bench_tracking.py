"""The cost of the request log: the same load through a gateway with tracking on and one with it off.

Both gateways run side by side against one fast local upstream; rounds alternate between
them so that the machine's noise falls on both alike. Prints the median throughput and the
gateway's CPU time per request of each, and the difference. Run from the repository root:

    .venv/bin/python bench/bench_tracking.py [--rounds 6] [--requests 300] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_gateway import BODY, ROOT, cpu_seconds, free_port, load, wait_until_up

from tests.emulators.openai import VALID_KEY


def start_gateway(upstream_port: int, tracking: bool) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        **os.environ,
        "OPENAI_API_KEY": VALID_KEY,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
        "LLMGATEWAY_TRACKING_ENABLED": "true" if tracking else "false",
        "LLMGATEWAY_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("llmgateway")), "serve", "--port", str(port)],
        cwd=tempfile.mkdtemp(prefix="llmgateway-bench-"),
        env=env,
    )
    wait_until_up(f"http://127.0.0.1:{port}/health")
    return process, port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    upstream_port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.emulators.openai:app", "--port", str(upstream_port),
         "--log-level", "warning", "--no-access-log"],
        cwd=ROOT,
    )  # fmt: skip
    gateways = {}
    try:
        wait_until_up(f"http://127.0.0.1:{upstream_port}/")
        gateways = {"on": start_gateway(upstream_port, True), "off": start_gateway(upstream_port, False)}
        rps: dict[str, list[float]] = {"on": [], "off": []}
        cpu: dict[str, list[float]] = {"on": [], "off": []}
        for name, (_, port) in gateways.items():  # warm-up
            asyncio.run(load(f"http://127.0.0.1:{port}/api/engine/chat/openai", BODY, 8, 100, {}))
        for _ in range(args.rounds):
            for name, (process, port) in gateways.items():
                url = f"http://127.0.0.1:{port}/api/engine/chat/openai"
                before = cpu_seconds(process.pid)
                wall, latencies = asyncio.run(load(url, BODY, args.concurrency, args.requests, {}))
                rps[name].append(len(latencies) / wall)
                cpu[name].append((cpu_seconds(process.pid) - before) / args.requests * 1000)
        on_rps, off_rps = statistics.median(rps["on"]), statistics.median(rps["off"])
        on_cpu, off_cpu = statistics.median(cpu["on"]), statistics.median(cpu["off"])
        print(f"{args.rounds} rounds x {args.requests} non-streaming requests, concurrency {args.concurrency}")
        print("| tracking | req/s (median) | gateway CPU ms/req (median) |")
        print("|---|---:|---:|")
        print(f"| off | {off_rps:.0f} | {off_cpu:.2f} |")
        print(f"| on | {on_rps:.0f} | {on_cpu:.2f} |")
        print(f"throughput cost of tracking: {(off_rps - on_rps) / off_rps * 100:+.1f}%;"
              f" CPU cost: {(on_cpu - off_cpu) / off_cpu * 100:+.1f}%")  # fmt: skip
    finally:
        for process, _ in gateways.values():
            process.terminate()
            process.wait(timeout=60)
        upstream.terminate()
        upstream.wait(timeout=30)


if __name__ == "__main__":
    main()
