"""Where the CPU of one request goes: py-spy samples `llmgateway serve` under steady load.

Starts the OpenAI emulator and the gateway (tracking on, access log off) in their own
processes, drives non-streaming or streaming engine requests at a fixed concurrency, samples the
gateway with py-spy (`pip install py-spy`), and sums the samples' own time by where the code
lives (our packages, the HTTP client stack, the server and framework, the SDKs, ...). Run
from the repository root:

    .venv/bin/python bench/profile_request.py [--seconds 15] [--concurrency 8] [--stream]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_gateway import free_port, wait_until_up  # noqa: E402
from tests.emulators.openai import VALID_KEY  # noqa: E402

# Where a frame's code lives, by the top-level package of its file (py-spy names files from
# their package: `llmgateway/core/call.py`, `httpcore2/_async/...`, `asyncio/events.py`).
PLACES = {
    "llmgateway": "llmgateway (ours)",
    **dict.fromkeys(("httpx2", "httpcore2", "h11", "anyio", "httpx", "httpcore", "sniffio", "aiohttp", "multidict", "yarl",
                     "propcache", "aiohappyeyeballs"), "HTTP client (httpx2 over aiohttp, or httpcore2 and h11)"),
    "openai": "vendor SDK (openai, its aiohttp bridge)",
    **dict.fromkeys(("uvicorn", "starlette", "fastapi", "httptools"), "server and framework (uvicorn, starlette, fastapi)"),
    **dict.fromkeys(("pydantic", "pydantic_core", "typing_extensions"), "validation (pydantic)"),
    **dict.fromkeys(("sqlalchemy", "aiosqlite", "sqlite3"), "request log (sqlalchemy, aiosqlite)"),
    "prometheus_client": "metrics export (prometheus_client)",
    **dict.fromkeys(("asyncio", "selectors", "uvloop", "contextvars"), "asyncio and the event loop"),
    "logging": "logging",
    **dict.fromkeys(("orjson", "json"), "json (orjson, json)"),
}  # fmt: skip


def place_of(frame: str) -> str:
    """`function (package/module.py:line)` -> where it lives."""
    path = frame.rpartition(" (")[2].rstrip(")").rpartition(":")[0]
    top = path.split("/")[0].removesuffix(".py")
    return PLACES.get(top, "stdlib and the rest")


async def drive(url: str, seconds: float, concurrency: int, stream: bool) -> int:
    body = {"model": "gpt-4o-mini", "chat_input": "Hello! Who are you?", "is_stream": stream}
    done = 0
    stop = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop:
                r = await client.post("/api/engine/chat/openai", json=body)
                assert r.status_code == 200, r.text
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    work = Path(tempfile.mkdtemp(prefix="llmgateway-profile-"))
    upstream_port, gateway_port = free_port(), free_port()
    upstream = subprocess.Popen([sys.executable, "-m", "uvicorn", "tests.emulators.openai:app", "--port", str(upstream_port),
                                 "--log-level", "warning"], cwd=ROOT)  # fmt: skip
    env = {**os.environ, "OPENAI_API_KEY": VALID_KEY, "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
           "LLMGATEWAY_ACCESS_LOG": "false", "LLMGATEWAY_LOG_LEVEL": "warning"}  # fmt: skip
    gateway = subprocess.Popen([str(Path(sys.executable).with_name("llmgateway")), "serve", "--port", str(gateway_port)],
                               cwd=work, env=env)  # fmt: skip
    url = f"http://127.0.0.1:{gateway_port}"
    try:
        wait_until_up(f"http://127.0.0.1:{upstream_port}/v1/models")
        wait_until_up(f"{url}/health")
        asyncio.run(drive(url, 2, args.concurrency, args.stream))  # warm
        raw = work / "profile.txt"
        sampler = subprocess.Popen([py_spy, "record", "--pid", str(gateway.pid), "--duration", str(int(args.seconds)),
                                    "--rate", "500", "--format", "raw", "--output", str(raw), "--nonblocking"])  # fmt: skip
        count = asyncio.run(drive(url, args.seconds, args.concurrency, args.stream))
        sampler.wait(timeout=60)
    finally:
        gateway.terminate()
        upstream.terminate()
        gateway.wait(timeout=30)
        upstream.wait(timeout=30)
    own: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        leaf = stack.split(";")[-1]
        own[place_of(leaf)] += int(samples)
        functions[leaf.rpartition(":")[0] + ")"] += int(samples)
    total = sum(own.values())
    kind = "streaming" if args.stream else "non-streaming"
    print(f"{count} {kind} requests in {args.seconds:.0f} s at c={args.concurrency}; {total} samples of the gateway's own time\n")
    print("| where the code lives | share of CPU samples |\n|---|---:|")
    for name, samples in own.most_common():
        print(f"| {name} | {100 * samples / total:.1f}% |")
    print("\n| the 15 functions with the most own time | share |\n|---|---:|")
    for name, samples in functions.most_common(15):
        print(f"| `{name}` | {100 * samples / total:.1f}% |")


if __name__ == "__main__":
    main()
