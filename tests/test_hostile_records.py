"""One hostile value can no longer stop or slow the request log.

Records with values no store takes as they are (integers past 64 bits, NUL bytes, lone
surrogates, nesting past any parser, strings past their column) are generated and pushed
through SQLite, PostgreSQL and the spill/replay path: each is stored or dead-lettered with
its reason, and the writer is alive afterwards. Then the same through the running gateway.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any, Callable

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmgateway.tracking.spill import SpillFile
from llmgateway.tracking.storable import MAX_DEPTH, storable
from llmgateway.tracking.store import RequestStore
from tests.conftest import new_writer

HOSTILE_TEXT = st.one_of(
    st.text(max_size=20),
    st.lists(st.sampled_from(["\x00", "\ud800", "\udfff", "a", "é", "😀", "\\u0000"]), max_size=12).map("".join),
    st.just("x" * 300),
)
HOSTILE_INT = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.just(2**64), st.just(-(2**63) - 1))
JSON_LIKE = st.recursive(
    st.one_of(st.none(), st.booleans(), HOSTILE_INT, st.floats(), HOSTILE_TEXT),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(HOSTILE_TEXT, children, max_size=3)),
    max_leaves=12,
)


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"a": [value]}
    return value


@st.composite
def hostile_records(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "created_at": 1_700_000_000.0,
        "finished_at": 1_700_000_001.0,
        "surface": draw(st.sampled_from(["engine", "openai" * 10])),
        "provider": "openai",
        "model_requested": draw(HOSTILE_TEXT),
        "model_reported": draw(HOSTILE_TEXT),
        "session_id": draw(st.one_of(st.none(), HOSTILE_TEXT)),
        "status": "success",
        "chat_input": draw(HOSTILE_TEXT),
        "chat_output": draw(HOSTILE_TEXT),
        "context": draw(st.one_of(JSON_LIKE, st.integers(150, 400).map(deep))),
        "parameters": draw(st.dictionaries(HOSTILE_TEXT, JSON_LIKE, max_size=3)),
        "tool_calls": draw(st.one_of(st.none(), st.lists(JSON_LIKE, max_size=2))),
        "input_tokens": draw(st.one_of(st.none(), HOSTILE_INT)),
        "error_message": draw(st.one_of(st.none(), HOSTILE_TEXT)),
    }


def _stored_or_dead_lettered(store: RequestStore, dead_letters: Path, ids: list[str]) -> Callable[[], Any]:
    async def check() -> tuple[set[str], set[str]]:
        stored = {row["id"] for row in await store.logs(_everything(), limit=1000)}
        dead = set()
        if dead_letters.exists():
            dead = {orjson.loads(line)["record"]["id"] for line in dead_letters.read_bytes().splitlines() if line}
        return stored & set(ids), dead & set(ids)

    return check


def _everything() -> Any:
    from llmgateway.tracking.store import LogFilter

    return LogFilter()


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(records=st.lists(hostile_records(), min_size=1, max_size=8))
def test_hostile_records_are_stored_or_dead_lettered(records: list[dict[str, Any]], database_url: str, tmp_path: Path) -> None:
    async def run() -> None:
        store = RequestStore(database_url)
        await store.migrate()
        spill = SpillFile(tmp_path / f"spill-{uuid.uuid4().hex}.jsonl")
        writer = new_writer(store, spill, queue_size=100, batch_size=5, flush_interval_s=0.01)
        writer.start()
        for record in records:
            writer.submit(dict(record))
        await writer.flush()
        ids = [r["id"] for r in records]
        stored, dead = await _stored_or_dead_lettered(store, spill.path.with_name("dead-letters.jsonl"), ids)()
        assert stored | dead == set(ids)  # none lost
        stats = writer.stats()
        assert stats.written >= len(stored) and stats.dropped == 0 and stats.database_healthy
        probe = {**records[0], "id": str(uuid.uuid4()), "context": None, "parameters": None}
        writer.submit(probe)  # the writer is alive afterwards
        await writer.flush()
        assert probe["id"] in {row["id"] for row in await store.logs(_everything(), limit=1000)}
        await writer.close()
        await store.aclose()

    asyncio.run(run())


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(records=st.lists(hostile_records(), min_size=1, max_size=6))
def test_hostile_lines_in_a_spill_file_replay_without_blocking(records: list[dict[str, Any]], database_url: str,
                                                               tmp_path: Path) -> None:  # fmt: skip
    """A spill file written before records were made storable (raw values, as the stdlib
    writes them) is replayed: what the database refuses goes to the dead letters, not back."""
    async def run() -> None:
        store = RequestStore(database_url)
        await store.migrate()
        spill = SpillFile(tmp_path / f"spill-{uuid.uuid4().hex}.jsonl")
        with open(spill.path, "w", encoding="utf-8", errors="surrogatepass") as f:
            for record in records:
                try:
                    f.write(json.dumps(record) + "\n")
                except (RecursionError, ValueError):
                    f.write(json.dumps({**record, "context": None}) + "\n")
            f.write('{"id": "torn-by-a-cra')  # a line torn by a crash
        writer = new_writer(store, spill, queue_size=100, batch_size=4, flush_interval_s=0.01)
        writer.start()
        writer.submit({**records[0], "id": str(uuid.uuid4())})
        await writer.flush()
        for _ in range(100):
            if not spill.has_records():
                break
            await asyncio.sleep(0.02)
        assert not spill.has_records()  # the replay finished: no .replaying file left to block others
        ids = [r["id"] for r in records]
        stored, dead = await _stored_or_dead_lettered(store, spill.path.with_name("dead-letters.jsonl"), ids)()
        assert stored | dead == set(ids)
        await writer.close()
        await store.aclose()

    asyncio.run(run())


def test_storable_converts_and_flags_only_what_it_must() -> None:
    plain = {"id": "a", "chat_input": "hello", "parameters": {"temperature": 0.5}, "input_tokens": 10}
    record, line = storable(dict(plain))
    assert record == plain and "sanitized" not in record
    assert orjson.loads(line) == plain

    hostile = {"id": "b", "chat_input": "nul\x00byte \ud800", "parameters": {"logit_bias": {"1": 2**70}},
               "context": deep(MAX_DEPTH + 10), "model_reported": "m" * 1000, "input_tokens": 2**40}  # fmt: skip
    record, line = storable(hostile)
    assert record["sanitized"] is True
    assert record["chat_input"] == "nulbyte ?"
    assert record["parameters"] == {"logit_bias": {"1": str(2**70)}}
    assert len(record["model_reported"]) == 256 and record["input_tokens"] == 2**31 - 1
    assert b"nesting past the record" in line
    assert orjson.loads(line)["id"] == "b"


async def test_a_row_the_database_refuses_goes_to_the_dead_letters(database_url: str, tmp_path: Path) -> None:
    store = RequestStore(database_url)
    await store.migrate()
    spill = SpillFile(tmp_path / "spill.jsonl")
    writer = new_writer(store, spill, queue_size=100, batch_size=10, flush_interval_s=0.01)
    writer.start()
    good = [_row() for _ in range(5)]
    bad = {**_row(), "status": None}  # NOT NULL: refused on its own
    for row in (*good[:2], bad, *good[2:]):
        writer.submit(row)
    await writer.flush()
    stored = {row["id"] for row in await store.logs(_everything())}
    assert stored == {row["id"] for row in good}
    lines = (tmp_path / "dead-letters.jsonl").read_bytes().splitlines()
    assert len(lines) == 1
    entry = orjson.loads(lines[0])
    assert entry["record"]["id"] == bad["id"] and "status" in entry["error"]
    assert writer.stats().dead_lettered == 1 and writer.stats().database_healthy
    await writer.close()
    await store.aclose()


async def test_a_writer_task_that_ends_is_started_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RequestStore(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    await store.migrate()
    writer = new_writer(store, SpillFile(tmp_path / "spill.jsonl"), queue_size=100, batch_size=10, flush_interval_s=0.01)
    real_insert = store.insert_many
    failures = []

    class Fatal(BaseException):
        pass

    async def insert_once_fatally(rows: list[dict[str, Any]]) -> None:
        if not failures:
            failures.append(len(rows))
            raise Fatal()
        await real_insert(rows)

    monkeypatch.setattr(store, "insert_many", insert_once_fatally)
    writer.start()
    row = _row()
    writer.submit(row)
    for _ in range(200):
        if await store.count() == 1:
            break
        await asyncio.sleep(0.05)
    assert failures == [1] and writer.stats().restarts == 1
    assert await store.count() == 1  # the batch in hand when the task ended was kept
    await writer.close()
    await store.aclose()


def _row() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "created_at": 1.0, "finished_at": 2.0, "surface": "engine", "provider": "openai",
            "model_requested": "gpt-4o-mini", "status": "success"}  # fmt: skip


def test_hostile_requests_through_the_gateway_keep_the_log_running(
    gateway_factory: Callable[..., str], postgres_url: str
) -> None:
    """On PostgreSQL: a NUL byte, an integer past 64 bits, a lone surrogate, deep nesting."""
    url = gateway_factory(database_url=postgres_url)
    attacks = [
        {"chat_input": "a NUL \x00 byte"},
        {"chat_input": "hi", "parameters": {"logit_bias": {"50256": 2**70}}},
        {"chat_input": "hi", "parameters": {"user": "lone \ud800 surrogate"}},
        {"chat_input": [{"role": "user", "content": [{"type": "text", "text": "hi", "extra": deep(300)}]}]},
    ]
    statuses = []
    with httpx.Client(base_url=url, timeout=30) as c:
        for attack in attacks:
            body = json.dumps({"model": "gpt-4o-mini", **attack}).encode()  # escapes the lone surrogate
            r = c.post("/api/engine/chat/openai", content=body, headers={"content-type": "application/json"})
            statuses.append(r.status_code)
            assert r.status_code < 500, r.text
        assert statuses == [200, 422, 422, 422]  # an integer past 64 bits, a lone surrogate, nesting too deep
        assert c.post("/api/engine/chat/openai", json={"model": "gpt-4o-mini", "chat_input": "after"}).status_code == 200
        for _ in range(100):
            logs = c.get("/api/tracking/logs").json()
            if len(logs) == len(attacks) + 1:
                break
            asyncio.run(asyncio.sleep(0.05))
        assert len(logs) == len(attacks) + 1, logs
        health = c.get("/health").json()
    assert health["tracking"]["dead_lettered"] == 0 and health["tracking"]["restarts"] == 0
    by_input = {row["chat_input"]: row for row in logs}
    assert by_input["a NUL  byte"]["sanitized"] is True
    assert sorted(row["http_status"] for row in logs) == [200, 200, 422, 422, 422]
