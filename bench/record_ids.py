"""What the request log's ids cost its writes: random ids (UUIDv4) against time-ordered ones
(UUIDv7, `vocabulary/ids.py`), inserted through the store's own writer, batch after batch into
one growing table, with the time of each stretch of rows: on SQLite the CPU time of this
process (the writer's thread included), on PostgreSQL (`--postgres`, a fresh database on the
tests' server, dropped after) the wall time, since the server does the work.

    .venv/bin/python bench/record_ids.py [--rows 200000] [--batch 200] [--every 40000] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmgateway.tracking.store import RequestStore  # noqa: E402
from llmgateway.vocabulary.ids import new_call_id  # noqa: E402
from tests.conftest import postgres_database  # noqa: E402


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


@contextmanager
def sqlite_file() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite+aiosqlite:///{Path(folder) / 'log.db'}"


async def us_a_row(url: str, clock: Callable[[], float], make_id: Callable[[], str], rows: int, batch: int,
                   every: int) -> list[float]:  # fmt: skip
    """Microseconds of `clock` a row, per `every` rows."""
    store = RequestStore(url)
    await store.migrate()
    stretches, spent = [], 0.0
    for done in range(batch, rows + 1, batch):
        records = [record(make_id) for _ in range(batch)]
        started = clock()
        await store.insert_many(records)
        spent += clock() - started
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
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database, timed by the wall clock")
    args = parser.parse_args()
    database, clock, unit = (postgres_database, time.perf_counter, "wall") if args.postgres else (sqlite_file, time.process_time, "CPU")
    for name, make_id in (("uuid4 (random)", lambda: str(uuid.uuid4())), ("uuid7 (time-ordered)", new_call_id)):
        with database() as url:
            stretches = asyncio.run(us_a_row(url, clock, make_id, args.rows, args.batch, args.every))
        print(f"{name:22} {unit} us a row, per {args.every} rows: " + ", ".join(f"{us:.1f}" for us in stretches))


if __name__ == "__main__":
    main()
