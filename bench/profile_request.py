"""Where the CPU of one request goes: py-spy samples `llmgateway serve` under steady load.

Starts the OpenAI emulator and the gateway (its defaults: tracking on, its JSON access log on,
written to the work folder's gateway.log) in their own processes, drives non-streaming or
streaming engine requests at a fixed concurrency, samples the gateway with py-spy (`pip install
py-spy`), and sums the samples by layer (with the gateway's CPU time a request, so each layer
reads in milliseconds), then lists the functions with the most own time. Run from the
repository root:

    .venv/bin/python bench/profile_request.py [--seconds 15] [--concurrency 8] [--stream] [--surface v1]

`--surface v1` drives `/v1/chat/completions` with the same conversation instead of the engine API.
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

# The samples by layer: each goes to the innermost frame whose package is named here, so
# the standard library's work counts for whoever called it. `asyncio/runners.py` is where the
# loop's own work (uvloop's I/O and scheduling, in C) shows.
LAYERS = {
    "llmgateway/api": "routes and middleware (ours)",
    "llmgateway/core": "call pipeline and adapters (ours)",
    "llmgateway/providers": "call pipeline and adapters (ours)",
    "llmgateway/vocabulary": "call pipeline and adapters (ours)",
    "llmgateway/tracking": "request log",
    "llmgateway/observability/access_log": "access log",
    "llmgateway/observability/prometheus": "metrics",
    "llmgateway/metrics": "metrics",
    "llmgateway": "the rest of ours",
    "asyncio/runners": "event loop (uvloop: I/O, scheduling)",
    **dict.fromkeys(("aiohttp", "multidict", "yarl", "propcache", "aiohappyeyeballs"), "upstream HTTP I/O (aiohttp)"),
    **dict.fromkeys(("openai", "httpx2", "httpcore2", "h11", "anyio", "sniffio"),
                    "vendor SDK and httpx2 (request build, the aiohttp bridge)"),
    **dict.fromkeys(("uvicorn", "httptools"), "server (uvicorn)"),
    **dict.fromkeys(("starlette", "fastapi", "pydantic", "pydantic_core", "typing_extensions", "typing_inspection"),
                    "framework (fastapi, starlette, pydantic)"),
    **dict.fromkeys(("sqlalchemy", "aiosqlite", "sqlite3"), "request log"),
    "prometheus_client": "metrics",
    "orjson": "json (orjson)",
}  # fmt: skip


def layer_of(stack: list[str]) -> str:
    """The layer a sample's CPU is spent for: its innermost frame in a named package."""
    for frame in reversed(stack):
        path = frame.rpartition(" (")[2].rstrip(")").rpartition(":")[0].removesuffix(".py")
        parts = path.split("/")
        for depth in (3, 2, 1):
            layer = LAYERS.get("/".join(parts[:depth]))
            if layer is not None:
                return layer
    return "no package of ours or theirs"


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Each surface's path and body for the same conversation.
SURFACES = {
    "engine": ("/api/engine/chat/openai", lambda stream: {"model": "gpt-4o-mini", "chat_input": "Hello! Who are you?",
                                                          "is_stream": stream}),
    "v1": ("/v1/chat/completions", lambda stream: {"model": "openai/gpt-4o-mini", "stream": stream,
                                                   "messages": [{"role": "user", "content": "Hello! Who are you?"}]}),
}  # fmt: skip


async def drive(url: str, seconds: float, concurrency: int, stream: bool, surface: str) -> int:
    path, body_of = SURFACES[surface]
    body = body_of(stream)
    done = 0
    stop = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop:
                r = await client.post(path, json=body)
                assert r.status_code == 200, r.text
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--surface", choices=sorted(SURFACES), default="engine")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    work = Path(tempfile.mkdtemp(prefix="llmgateway-profile-"))
    upstream_port, gateway_port = free_port(), free_port()
    upstream = subprocess.Popen([sys.executable, "-m", "uvicorn", "tests.emulators.openai:app", "--port", str(upstream_port),
                                 "--log-level", "warning"], cwd=ROOT)  # fmt: skip
    env = {**os.environ, "OPENAI_API_KEY": VALID_KEY, "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
           "LLMGATEWAY_LOG_LEVEL": "warning"}  # fmt: skip
    gateway_log = (work / "gateway.log").open("wb")
    gateway = subprocess.Popen([str(Path(sys.executable).with_name("llmgateway")), "serve", "--port", str(gateway_port)],
                               cwd=work, env=env, stderr=gateway_log)  # fmt: skip
    url = f"http://127.0.0.1:{gateway_port}"
    try:
        wait_until_up(f"http://127.0.0.1:{upstream_port}/v1/models")
        wait_until_up(f"{url}/health")
        asyncio.run(drive(url, 2, args.concurrency, args.stream, args.surface))  # warm
        raw = work / "profile.txt"
        sampler = subprocess.Popen([py_spy, "record", "--pid", str(gateway.pid), "--duration", str(int(args.seconds)),
                                    "--rate", "500", "--format", "raw", "--output", str(raw), "--nonblocking"])  # fmt: skip
        cpu_before = cpu_seconds(gateway.pid)
        count = asyncio.run(drive(url, args.seconds, args.concurrency, args.stream, args.surface))
        cpu_ms = (cpu_seconds(gateway.pid) - cpu_before) * 1000 / count
        sampler.wait(timeout=60)
    finally:
        gateway.terminate()
        upstream.terminate()
        gateway.wait(timeout=30)
        upstream.wait(timeout=30)
        gateway_log.close()
    functions: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = stack.split(";")
        layers[layer_of(frames)] += int(samples)
        functions[frames[-1].rpartition(":")[0] + ")"] += int(samples)
    total = sum(layers.values())
    kind = "streaming" if args.stream else "non-streaming"
    print(f"{count} {kind} {args.surface} requests in {args.seconds:.0f} s at c={args.concurrency}; {total} samples of the gateway's own time;"
          f" {cpu_ms:.2f} CPU ms a request\n")
    print("| layer (the standard library's work counted for its caller) | share | CPU ms a request |\n|---|---:|---:|")
    for name, samples in layers.most_common():
        print(f"| {name} | {100 * samples / total:.1f}% | {cpu_ms * samples / total:.2f} |")
    print()
    print("| the 15 functions with the most own time | share |\n|---|---:|")
    for name, samples in functions.most_common(15):
        print(f"| `{name}` | {100 * samples / total:.1f}% |")


if __name__ == "__main__":
    main()
