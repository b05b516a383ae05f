"""What the request log's ids cost its SQLite writes: random ids (UUIDv4) against time-ordered
ones (UUIDv7, `vocabulary/ids.py`), inserted through the store's own writer, batch after batch
into one growing file, with the CPU time of each stretch of rows.

    .venv/bin/python bench/record_ids.py [--rows 200000] [--batch 200] [--every 40000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable

from llmgateway.tracking.store import RequestStore
from llmgateway.vocabulary.ids import new_call_id


def record(make_id: Callable[[], str]) -> dict:
    """A typical success record: the columns a short engine API call fills."""
    now = time.time()
    return {
        "id": make_id(), "created_at": now, "finished_at": now, "surface": "engine", "provider": "openai",
        "model_requested": "gpt-4o-mini", "model_reported": "gpt-4o-mini-2024-07-18", "status": "success",
        "chat_input": "Say hello to the bench", "chat_output": "Hello! " * 10, "http_status": 200,
        "context": [{"role": "user", "content": "Say hello to the bench"}], "parameters": {"temperature": 0.2},
        "finish_reason": "stop", "input_tokens": 12, "output_tokens": 20, "cost_usd": 1.5e-05, "latency_s": 0.01,
        "metrics": {"input_tokens": 12, "output_tokens": 20, "latency_s": 0.01}, "client_address": "127.0.0.1",
    }  # fmt: skip


async def cpu_us_a_row(make_id: Callable[[], str], rows: int, batch: int, every: int) -> list[float]:
    """CPU microseconds a row (this process, the writer's thread included), per `every` rows."""
    with tempfile.TemporaryDirectory() as folder:
        store = RequestStore(f"sqlite+aiosqlite:///{Path(folder) / 'log.db'}")
        await store.migrate()
        stretches, spent = [], 0.0
        for done in range(batch, rows + 1, batch):
            records = [record(make_id) for _ in range(batch)]
            started = time.process_time()
            await store.insert_many(records)
            spent += time.process_time() - started
            if done % every == 0:
                stretches.append(spent / every * 1e6)
                spent = 0.0
        await store.aclose()
    return stretches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--every", type=int, default=40_000)
    args = parser.parse_args()
    for name, make_id in (("uuid4 (random)", lambda: str(uuid.uuid4())), ("uuid7 (time-ordered)", new_call_id)):
        stretches = asyncio.run(cpu_us_a_row(make_id, args.rows, args.batch, args.every))
        print(f"{name:22} CPU us a row, per {args.every} rows: " + ", ".join(f"{us:.1f}" for us in stretches))


if __name__ == "__main__":
    main()
