"""CPU of reading one streamed answer: the SSE decoding and the translation into the gateway's
events, on the peer harness's canned OpenAI answer (10 content chunks, a finish and a usage
chunk), in one process, without sockets. Deterministic enough to compare two trees where the
gateway's CPU a request (bench/ab_cpu.sh) is too noisy to show a few microseconds:

    PYTHONPATH=TREE/src .venv/bin/python bench/translation_cost.py [--answers 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import AsyncIterator

from llmgateway.providers.openai import ChunkTranslator
from llmgateway.providers.stainless import translated_stream

MOCK = Path(__file__).resolve().parents[2] / "shared" / "bench" / "mock"


class _Content:
    def __init__(self, body: bytes) -> None:
        self._body = body

    async def iter_any(self) -> AsyncIterator[bytes]:
        yield self._body  # the whole answer in one read, as the mock's small answer arrives


class CannedResponse:
    """What `translated_stream` reads of an aiohttp response."""

    url = "http://127.0.0.1:18000/v1/chat/completions"

    def __init__(self, body: bytes) -> None:
        self.content = _Content(body)

    def release(self) -> None:
        pass


async def microseconds_an_answer(body: bytes, answers: int) -> float:
    started = time.process_time()
    for _ in range(answers):
        async for _event in translated_stream(CannedResponse(body), ChunkTranslator().translate):  # type: ignore[arg-type]
            pass
    return (time.process_time() - started) / answers * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as canned:
        subprocess.run([sys.executable, str(MOCK / "make_canned.py"), canned], check=True, capture_output=True)
        body = (Path(canned) / "stream_usage.sse").read_bytes()
    cost = asyncio.run(microseconds_an_answer(body, args.answers))
    print(f"{cost:.1f} us of CPU an answer ({len(body)} bytes of SSE)")


if __name__ == "__main__":
    main()
