"""The cost of the request log, measured two ways.

1. End to end: the same load through a gateway with tracking on and one with it off, side by
   side against one fast local upstream, rounds alternating so the machine's noise falls on
   both alike; median throughput and gateway CPU time per request of each.
2. Per record: the CPU time the log spends on one request (building the record, making it
   storable, appending it to the crash journal, queueing it, and its share of the batched
   SQLite insert), with the journal and without, set against the gateway's CPU per request.
   On a 2-core machine shared by load generator, upstream and gateways, (1) swings by several
   percent from run to run; (2) is steady.

    .venv/bin/python bench/bench_tracking.py [--rounds 8] [--requests 300] [--concurrency 8] [--per-record-only]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
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
        "LLMGATEWAY_ACCESS_LOG": "false",  # measured apart: it writes a line per request
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("llmgateway")), "serve", "--port", str(port)],
        cwd=tempfile.mkdtemp(prefix="llmgateway-bench-"),
        env=env,
    )
    wait_until_up(f"http://127.0.0.1:{port}/health")
    return process, port


async def record_cpu_ms(journal: bool, count: int = 5000) -> float:
    """CPU milliseconds per record: build it from a finished call, journal and queue it, insert
    it in batches."""
    from llmgateway.catalog import load_catalog
    from llmgateway.settings import Settings
    from llmgateway.tracking.records import record_from_result
    from llmgateway.tracking.tracker import Tracker
    from llmgateway.vocabulary.requests import ChatRequest, Origin
    from llmgateway.vocabulary.results import CallResult, TokenCounts

    workdir = Path(tempfile.mkdtemp(prefix="llmgateway-bench-"))
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{workdir / 'log.db'}",
                        tracking_spill_path=workdir / "spill.jsonl", tracking_dead_letter_path=workdir / "dead.jsonl",
                        tracking_journal_dir=workdir / "journal" if journal else None)  # fmt: skip
    tracker = Tracker(settings)
    await tracker.start()
    spec = load_catalog().provider("openai")
    request = ChatRequest(provider=spec, model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello! Who are you?"}],
                          origin=Origin("engine", "127.0.0.1", 0.0))  # fmt: skip
    metrics = {"input_tokens": 11, "output_tokens": 12, "total_tokens": 23, "cached_tokens": 0, "reasoning_tokens": 0,
               "cache_write_tokens": 0, "cost_usd": 8.85e-06, "latency_s": 0.03, "time_to_first_token_s": 0.02,
               "inter_token_latency_s": 0.001, "tokens_per_second": 900.0, "tokens_estimated": False, "price_known": True}
    results = [CallResult(id=str(i), request=request, timestamp=1.8e9 + i, status="success",
                          text="Hello! I am an emulated assistant. How can I help you today?", tool_calls=None,
                          finish_reason="stop", model="gpt-4o-mini-2024-07-18", response_id="x", system_fingerprint=None, service_tier=None,
                          tokens=TokenCounts(11, 12), metrics=metrics) for i in range(count)]  # fmt: skip
    record_from_result(results[0])  # warm
    started = time.process_time()
    for result in results:
        tracker.record(result)
    await tracker.flush()
    spent = time.process_time() - started
    await tracker.close()
    return spent / count * 1000


def report_per_record(gateway_cpu_ms: float | None) -> None:
    with_journal = statistics.median(asyncio.run(record_cpu_ms(journal=True)) for _ in range(5))
    without = statistics.median(asyncio.run(record_cpu_ms(journal=False)) for _ in range(5))
    line = f"per record (median of 5 x 5000): {with_journal * 1000:.0f} us of CPU with the journal, {without * 1000:.0f} us without"
    if gateway_cpu_ms is not None:
        line += f"; {with_journal / gateway_cpu_ms * 100:.1f}% of the gateway's {gateway_cpu_ms:.2f} ms per request without tracking"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--per-record-only", action="store_true", help="only the steady per-record measure")
    args = parser.parse_args()
    if args.per_record_only:
        report_per_record(None)
        return

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
        print(f"end to end: throughput cost of tracking {(off_rps - on_rps) / off_rps * 100:+.1f}%;"
              f" CPU cost {(on_cpu - off_cpu) / off_cpu * 100:+.1f}%")  # fmt: skip
        report_per_record(off_cpu)
    finally:
        for process, _ in gateways.values():
            process.terminate()
            process.wait(timeout=60)
        upstream.terminate()
        upstream.wait(timeout=30)


if __name__ == "__main__":
    main()
