"""The request log on real SQLite and PostgreSQL: every request recorded, queryable, kept."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from llmgateway.settings import Settings
from llmgateway.tracking import store as store_module
from llmgateway.tracking.spill import SpillFile
from llmgateway.tracking.store import LogFilter, RequestStore
from llmgateway.vocabulary.ids import new_call_id
from tests.conftest import (
    SSE,
    _postgres_admin,
    free_port,
    make_settings,
    new_writer,
    postgres_database,
    ready_after_the_warm_up,
    running_gateway,
    served,
)
from tests.emulators.openai import DEFAULT_REPLY, VALID_KEY, Fault, OpenAIEmulator

CHAT = "/api/engine/chat/openai"


def logs(client: httpx.Client, **params) -> list[dict]:
    r = client.get("/api/tracking/logs", params=params)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def tracked(gateway_factory: Callable[..., str], database_url: str) -> httpx.Client:
    url = gateway_factory(database_url=database_url)
    return httpx.Client(base_url=url, timeout=30)


def test_every_kind_of_request_is_recorded(tracked: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    ok = tracked.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "Hello!", "parameters": {"temperature": 0.3}})
    assert ok.status_code == 200
    with tracked.stream("POST", CHAT, headers=SSE, json={"model": "gpt-4o-mini", "chat_input": "Stream it", "is_stream": True}) as s:
        s.read()
    openai_emulator.faults.append(Fault("status", status=429, message="slow down"))
    assert tracked.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "again"}).status_code == 429
    assert tracked.post("/api/engine/chat/openai", json={"model": "o3", "chat_input": "x", "parameters": {"top_p": 0.5}}).status_code == 422

    rows = logs(tracked)
    assert len(rows) == 4
    refused, limited, streamed, plain = rows  # newest first
    assert plain["id"] == ok.json()["id"]
    assert plain["status"] == "success" and plain["http_status"] == 200
    assert plain["provider"] == "openai" and plain["surface"] == "engine"
    assert plain["model_requested"] == "gpt-4o-mini" and plain["model_reported"] == "gpt-4o-mini-2024-07-18"
    assert plain["chat_input"] == "Hello!" and plain["chat_output"] == DEFAULT_REPLY
    assert plain["context"] == [{"role": "user", "content": "Hello!"}]
    assert plain["parameters"]["temperature"] == 0.3
    assert plain["finish_reason"] == "stop"
    metrics = ok.json()["metrics"]
    for key in ("input_tokens", "output_tokens", "cost_usd", "latency_s", "time_to_first_token_s", "tokens_per_second"):
        assert plain[key] == pytest.approx(metrics[key]), key
    assert plain["client_address"] == "127.0.0.1"
    assert plain["key_fingerprint"] == "sha256:" + hashlib.sha256(VALID_KEY.encode()).hexdigest()[:16]
    assert streamed["status"] == "success" and streamed["chat_output"] == DEFAULT_REPLY
    assert limited["status"] == "error" and limited["http_status"] == 429
    assert limited["error_type"] == "upstream_rate_limited" and "slow down" in limited["error_message"]
    assert limited["attempts"][0]["status_code"] == 429
    assert refused["status"] == "error" and refused["http_status"] == 422 and refused["model_requested"] == "o3"


def test_client_that_disconnects_mid_stream_is_recorded_as_cancelled(
    tracked: httpx.Client, openai_emulator: OpenAIEmulator
) -> None:
    openai_emulator.chunk_delay_s = 0.1
    with tracked.stream("POST", CHAT, headers=SSE, json={"model": "gpt-4o-mini", "chat_input": "long", "is_stream": True}) as s:
        for line in s.iter_lines():
            if '"chat_output_stream":" I"' in line:
                break  # leave after two pieces of text
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rows = logs(tracked)
        if rows:
            break
        time.sleep(0.05)
    (row,) = rows
    assert row["status"] == "cancelled"
    assert row["chat_output"].startswith("Hello! I") and row["chat_output"] != DEFAULT_REPLY
    assert row["time_to_first_token_s"] is not None
    # the upstream was left at once: far fewer than its 12 pieces x 100 ms went by
    assert row["latency_s"] < 0.8


def test_filters_csv_and_stats(tracked: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    for model in ("gpt-4o-mini", "gpt-4o-mini", "gpt-4o"):
        assert tracked.post(CHAT, json={"model": model, "chat_input": "hi"}).status_code == 200
    openai_emulator.faults.append(Fault("status", status=500))
    tracked.post(CHAT, json={"model": "gpt-4o", "chat_input": "hi"})

    assert len(logs(tracked, model="gpt-4o-mini")) == 2
    assert len(logs(tracked, status="error")) == 1
    assert len(logs(tracked, limit=2)) == 2 and len(logs(tracked, skip=3)) == 1
    assert len(logs(tracked, since=time.time() - 60)) == 4
    assert logs(tracked, until="2000-01-01T00:00:00Z") == []
    assert tracked.get("/api/tracking/logs", params={"since": "yesterday"}).status_code == 422

    r = tracked.get("/api/tracking/logs", params={"format": "csv"})
    assert r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert len(table) == 4 and {"id", "provider", "cost_usd", "latency_s"} <= set(table[0])

    by_model = {s["model"]: s for s in tracked.get("/api/tracking/stats", params={"group_by": "model"}).json()}
    assert by_model["gpt-4o"]["requests"] == 2 and by_model["gpt-4o"]["errors"] == 1
    mini = by_model["gpt-4o-mini"]
    assert mini["requests"] == 2 and mini["errors"] == 0
    assert 0 < mini["latency_p50_s"] <= mini["latency_p95_s"]
    assert 0 < mini["time_to_first_token_p50_s"] <= mini["time_to_first_token_p95_s"]
    assert mini["output_tokens"] == 24 and mini["cost_usd"] > 0
    (by_provider,) = tracked.get("/api/tracking/stats").json()
    assert by_provider["provider"] == "openai" and by_provider["requests"] == 4


def test_sessions_carry_context_across_turns_and_restarts(
    tmp_path: Path, database_url: str, openai_emulator: OpenAIEmulator
) -> None:
    settings = make_settings(tmp_path, database_url=database_url)
    with running_gateway(settings) as url, httpx.Client(base_url=url, timeout=30) as c:
        first = c.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "My name is Ada.", "session_id": "s-1"})
        second = c.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "What is my name?", "session_id": "s-1"})
        assert first.status_code == second.status_code == 200
        assert second.json()["context"] == [
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": DEFAULT_REPLY},
            {"role": "user", "content": "What is my name?"},
        ]
        assert openai_emulator.requests[-1]["messages"] == second.json()["context"]
        assert second.json()["chat_input"] == "What is my name?"
        c.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "unrelated", "session_id": "s-2"})
    # a new process knows the session only from the database
    with running_gateway(settings) as url, httpx.Client(base_url=url, timeout=30) as c:
        third = c.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "And now?", "session_id": "s-1"})
        assert [m["content"] for m in third.json()["context"]] == [
            "My name is Ada.",
            DEFAULT_REPLY,
            "What is my name?",
            DEFAULT_REPLY,
            "And now?",
        ]
        turns = c.get("/api/tracking/logs/s-1").json()  # newest first
        assert [t["chat_input"] for t in turns] == ["And now?", "What is my name?", "My name is Ada."]
        assert len(c.get("/api/tracking/logs").json()) == 4  # records survived the restart


def test_a_session_is_the_same_in_every_gateway_process(
    tmp_path: Path, database_url: str, openai_emulator: OpenAIEmulator
) -> None:
    """Two `llmgateway serve` processes on one database take turns of one session: each turn
    sees every earlier turn, whichever process served it, including a process whose cached copy
    of the conversation another process has since made stale."""
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    env = {"LLMGATEWAY_DATABASE_URL": database_url}
    with served(tmp_path / "a", **env) as (port_a, _), served(tmp_path / "b", **env) as (port_b, _):
        for turn, port in enumerate([port_a, port_b, port_a, port_b], start=1):
            body = {"model": "gpt-4o-mini", "chat_input": f"turn {turn}", "session_id": "shared"}
            r = httpx.post(f"http://127.0.0.1:{port}{CHAT}", json=body, timeout=30)
            assert r.status_code == 200, r.text
        sent = [m["content"] for m in openai_emulator.requests[-1]["messages"]]
        assert sent == ["turn 1", DEFAULT_REPLY, "turn 2", DEFAULT_REPLY, "turn 3", DEFAULT_REPLY, "turn 4"]
        assert [len(body["messages"]) for body in openai_emulator.requests] == [1, 3, 5, 7]


def test_record_ids_are_uuid7_in_the_order_the_requests_came(tracked: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    """Time-ordered keys go to the end of the primary key's index (vocabulary/ids.py)."""
    for i in range(6):
        if i == 2:
            openai_emulator.faults.append(Fault("status", status=429, message="slow down"))
        body = {"model": "gpt-4o-mini" if i != 4 else "o3", "chat_input": f"turn {i}", "parameters": {"top_p": 0.5} if i == 4 else {}}
        tracked.post(CHAT, json=body)
    rows = logs(tracked)  # newest first
    assert [row["status"] for row in rows] == ["success", "error", "success", "error", "success", "success"]
    ids = [row["id"] for row in rows]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert ids == sorted(ids, reverse=True)


def test_a_call_id_carries_the_millisecond_it_was_made_and_sorts_after_earlier_ones() -> None:
    before_ms = time.time_ns() // 1_000_000
    ids = [new_call_id() for _ in range(10_000)]
    after_ms = time.time_ns() // 1_000_000
    parsed = [uuid.UUID(i) for i in ids]
    assert all(str(u) == i for u, i in zip(parsed, ids))
    assert {(u.version, u.variant) for u in parsed} == {(7, uuid.RFC_4122)}
    assert before_ms <= parsed[0].int >> 80 <= parsed[-1].int >> 80 <= after_ms
    assert all(a < b for a, b in zip(ids, ids[1:]))  # strictly: unique, and in the order made


def test_requests_refused_before_any_vendor_call_are_recorded(
    gateway_factory: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    url = gateway_factory()
    with httpx.Client(base_url=url, timeout=30) as c:
        assert c.post("/api/engine/chat/nope", json={"model": "m", "chat_input": "x"}).status_code == 404
        assert c.post("/api/engine/chat/anthropic", json={"model": "claude-haiku-4-5", "chat_input": "x"}).status_code == 401
        rows = c.get("/api/tracking/logs").json()
    assert sorted((row["provider"], row["model"], row["status"], row["error_type"], row["http_status"]) for row in rows) == [
        ("anthropic", "claude-haiku-4-5", "error", "missing_api_key", 401),
        ("nope", "m", "error", "unknown_provider", 404),
    ]  # fmt: skip


def test_sqlite_runs_in_wal_mode(gateway_factory: Callable[..., str], tmp_path: Path) -> None:
    """WAL lets the API read while the writer writes (README: Tracking)."""
    url = gateway_factory(database_url=f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    assert httpx.post(f"{url}{CHAT}", json={"model": "gpt-4o-mini", "chat_input": "hi"}).status_code == 200
    with sqlite3.connect(tmp_path / "wal.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_the_writer_takes_its_bounds_from_the_settings(tmp_path: Path) -> None:
    """Queue size and the in-memory buffer, as LLMGATEWAY_TRACKING_* set them: the spill file's
    directory does not exist here, so the disk takes nothing and the buffer holds what it can."""
    from llmgateway.tracking.tracker import Tracker

    settings = make_settings(tmp_path, tracking_queue_size=5, tracking_buffer_records=7,
                             tracking_spill_path=tmp_path / "missing" / "spill.jsonl")  # fmt: skip
    tracker = Tracker(settings)
    assert tracker.writer is not None
    for i in range(50):  # before the writer runs: 5 queue, 7 wait in memory, 38 are dropped
        tracker.writer.submit(_row(i))
    stats = tracker.writer.stats()
    assert (stats.queue_depth, stats.buffered, stats.dropped) == (5, 7, 38)
    await tracker.start()
    await tracker.flush()
    await tracker.close()
    assert await RequestStore(settings.database_url).count() == 12


async def test_the_writer_inserts_in_batches_of_the_set_size(tmp_path: Path) -> None:
    from llmgateway.tracking.tracker import Tracker

    tracker = Tracker(make_settings(tmp_path, tracking_queue_size=5, tracking_batch_size=3, tracking_flush_interval_s=0.01))
    assert tracker.store is not None and tracker.writer is not None
    batches: list[int] = []
    real_insert = tracker.store.insert_many

    async def counted(rows: list[dict]) -> None:
        batches.append(len(rows))
        await real_insert(rows)

    tracker.store.insert_many = counted  # type: ignore[method-assign]
    for i in range(10):  # 5 queue, 5 spill (replayed in batches too)
        tracker.writer.submit(_row(i))
    await tracker.start()
    await tracker.flush()
    tracker.writer.submit(_row(10))  # a write after the spill triggers its replay
    await tracker.flush()
    await tracker.close()
    assert sum(batches) == 11 and max(batches) == 3, batches


def test_tracking_off_answers_but_keeps_no_log(gateway_factory: Callable[..., str], tmp_path: Path) -> None:
    url = gateway_factory(tracking_enabled=False)
    with httpx.Client(base_url=url) as c:
        assert c.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi"}).status_code == 200
        r = c.get("/api/tracking/logs")
        assert r.status_code == 503 and r.json()["error"]["type"] == "tracking_disabled"
    assert not (tmp_path / "llmgateway.db").exists()


# -- summaries, computed by the database -----------------------------------------------------

BUCKET_START = 1_700_000_040.0  # a multiple of 60


def _summary_row(i: int, offset: float, status: str = "success", **columns: Any) -> dict:
    return {**_row(i), "created_at": BUCKET_START + offset, "status": status, **columns}


def _summary_rows() -> list[dict]:
    rows = [
        *(_summary_row(i, off, latency_s=lat, input_tokens=10, output_tokens=5, cost_usd=0.001,
                       time_to_first_token_s=ttft)
          for i, (off, lat, ttft) in enumerate([(0, 0.5, 0.15), (10, 0.1, None), (59, 0.4, 0.05), (60, 0.2, None),
                                                (61, 0.3, None)])),
        _summary_row(10, 200, "error", latency_s=9.0, time_to_first_token_s=8.0),  # not in the percentiles
        _summary_row(11, 200, "cancelled", output_tokens=3),
        _summary_row(12, 0, latency_s=1.0, provider="anthropic", model_requested="claude-sonnet-4-5", input_tokens=7),
    ]  # fmt: skip
    rows[0].update(cache="miss", cost_saved_usd=0.0)
    rows[1].update(cache="hit", cost_saved_usd=0.002)
    rows[3].update(cache="bypass", cost_saved_usd=0.0)
    return rows


async def test_stats_and_timeseries_are_exact(database_url: str) -> None:
    """Percentiles by the inclusive method (rank (n-1)*p/100, interpolated), counts and sums
    per group and per bucket, from rows whose answers are worked out by hand."""
    store = RequestStore(database_url)
    await store.migrate()
    await store.insert_many(_summary_rows())
    by_provider = {s["provider"]: s for s in await store.stats("provider", LogFilter())}
    assert by_provider["openai"] == {
        "provider": "openai", "requests": 7, "errors": 1, "cancelled": 1,
        "latency_p50_s": 0.3, "latency_p95_s": pytest.approx(0.48, abs=1e-12),  # 0.4 + 0.8 * (0.5 - 0.4)
        "time_to_first_token_p50_s": pytest.approx(0.10, abs=1e-12),  # halfway between 0.05 and 0.15
        "time_to_first_token_p95_s": pytest.approx(0.145, abs=1e-12),
        "input_tokens": 50, "output_tokens": 28, "cost_usd": pytest.approx(0.005, abs=1e-12),
        "cache_hits": 1, "cache_hit_rate": 0.3333, "cost_saved_usd": pytest.approx(0.002, abs=1e-12),  # 1 hit of 3 cacheable
    }  # fmt: skip
    assert by_provider["anthropic"] == {
        "provider": "anthropic", "requests": 1, "errors": 0, "cancelled": 0,
        "latency_p50_s": 1.0, "latency_p95_s": 1.0, "time_to_first_token_p50_s": None,
        "time_to_first_token_p95_s": None, "input_tokens": 7, "output_tokens": 0, "cost_usd": None,
        "cache_hits": 0, "cache_hit_rate": None, "cost_saved_usd": 0.0,
    }  # fmt: skip
    assert [s["model"] for s in await store.stats("model", LogFilter())] == ["claude-sonnet-4-5", "gpt-4o-mini"]
    series = await store.timeseries(LogFilter(provider="openai"), 60)
    assert [(b["start"] - BUCKET_START, b["requests"], b["errors"], b["output_tokens"]) for b in series] == [
        (0, 3, 0, 15), (60, 2, 0, 10), (180, 2, 1, 3),
    ]  # fmt: skip
    assert series[0]["cost_usd"] == pytest.approx(0.003, abs=1e-12) and series[2]["cost_usd"] == 0.0
    assert [(b["cache_hits"], b["cacheable"]) for b in series] == [(1, 2), (0, 1), (0, 0)]
    assert series[0]["cost_saved_usd"] == pytest.approx(0.002, abs=1e-12) and series[1]["cost_saved_usd"] == 0.0
    await store.aclose()


# -- never lost ------------------------------------------------------------------------------


def _row(i: int) -> dict:
    return {
        "id": f"00000000-0000-0000-0000-{i:012d}",
        "created_at": 1_700_000_000.0 + i,
        "finished_at": 1_700_000_001.0 + i,
        "surface": "engine",
        "provider": "openai",
        "model_requested": "gpt-4o-mini",
        "status": "success",
    }


def _full_row(i: int) -> dict:
    """A record with a value of every kind a column holds: JSON objects, lists and nulls,
    booleans, integers, floats and text."""
    return {
        **_row(i), "model_reported": "gpt-4o-mini-2024-07-18", "session_id": None, "error_type": None,
        "http_status": 200, "chat_input": "Hello", "chat_output": "Hi ✓", "tool_calls": None,
        "context": [{"role": "user", "content": "Hello"}], "parameters": {"temperature": 0.5, "stop": ["\n"]},
        "finish_reason": "stop", "input_tokens": 8, "output_tokens": 2, "tokens_estimated": False,
        "cost_usd": 7.2e-06, "latency_s": 0.25, "attempts": [], "sanitized": True,
        "metrics": {"cost_usd": 7.2e-06, "tokens_estimated": False, "price_known": True},
    }  # fmt: skip


async def _stored_and_rewritten(store: RequestStore) -> None:
    """Each value reads back as it was written; a record written again replaces the first,
    keeping the session id a client attached."""
    await store.migrate()
    rows = [_full_row(1), {**_full_row(2), "session_id": "client-session"}]
    await store.insert_many(rows)
    stored = {row["id"]: row for row in await store.logs(LogFilter())}
    for row in rows:
        assert {name: stored[row["id"]][name] for name in row} == row
    await store.insert_many([{**_full_row(2), "chat_output": "again"}])
    again = {row["id"]: row for row in await store.logs(LogFilter())}[rows[1]["id"]]
    assert again["chat_output"] == "again" and again["session_id"] == "client-session"
    await store.aclose()


async def test_records_are_stored_as_written(database_url: str) -> None:
    await _stored_and_rewritten(RequestStore(database_url))


async def test_records_are_stored_as_written_by_a_driver_that_names_its_placeholders(tmp_path: Path) -> None:
    """psycopg's `%(name)s`, say: the compiled upsert then binds each row by name."""
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import create_async_engine

    store = RequestStore(f"sqlite+aiosqlite:///{tmp_path / 'named.db'}")
    await store.aclose()
    store._engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'named.db'}", paramstyle="named")
    store._sqlite_writer = None  # the async engine's path, which PostgreSQL's drivers take
    inserts: list[tuple[str, Any]] = []
    event.listen(store.engine.sync_engine, "before_cursor_execute",
                 lambda _conn, _cursor, sql, params, *_: inserts.append((sql, params)) if sql.startswith("INSERT INTO requests") else None)  # fmt: skip
    await _stored_and_rewritten(store)
    # by name, as such a driver takes them (SQLite would also take them in order); one row goes alone
    bound = [row for _, params in inserts for row in (params if isinstance(params, (list, tuple)) else [params])]
    assert inserts and all(":chat_output" in sql for sql, _ in inserts) and all(isinstance(row, dict) for row in bound)


def _count_inserts(store: RequestStore) -> list[tuple[bool, int]]:
    """For each INSERT into the SQLite file: whether it was an executemany, and how many rows it bound."""
    from sqlalchemy import event

    inserts: list[tuple[bool, int]] = []

    def count(_conn: Any, _cursor: Any, sql: str, params: Any, _context: Any, executemany: bool) -> None:
        if sql.startswith("INSERT INTO requests"):
            inserts.append((executemany, len(params) if executemany else len(params) // len(store_module._COLUMNS)))

    event.listen(store._sqlite_writer, "before_cursor_execute", count)
    return inserts


async def test_a_batch_goes_to_the_sqlite_file_in_one_statement(tmp_path: Path) -> None:
    """sqlite3 gives up the GIL once a row of an executemany, and on a busy event loop each row
    then waits for it again: a batch is one statement of many rows."""
    store = RequestStore(f"sqlite+aiosqlite:///{tmp_path / 'batch.db'}")
    await store.migrate()
    inserts = _count_inserts(store)
    await store.insert_many([_full_row(i) for i in range(200)])
    assert inserts == [(False, 200)] and await store.count() == 200
    await store.aclose()


async def test_a_batch_past_sqlites_placeholder_limit_is_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A statement holds at most SQLite's limit of placeholders; the rows past it go in the next."""
    monkeypatch.setattr(store_module, "_SQLITE_MAX_VARIABLES", 4 * len(store_module._COLUMNS) + 1)
    store = RequestStore(f"sqlite+aiosqlite:///{tmp_path / 'split.db'}")
    await store.migrate()
    inserts = _count_inserts(store)
    await store.insert_many([_full_row(i) for i in range(10)])
    assert inserts == [(False, 4), (False, 4), (False, 2)]
    assert sorted(row["id"] for row in await store.logs(LogFilter())) == [_full_row(i)["id"] for i in range(10)]
    await store.aclose()


async def test_a_record_twice_in_one_batch_is_stored_once_as_last_written(tmp_path: Path) -> None:
    """A replayed journal or spill can hold a record again: within one statement, the later
    row writes over the earlier, as it would in a statement of its own."""
    store = RequestStore(f"sqlite+aiosqlite:///{tmp_path / 'twice.db'}")
    await store.migrate()
    first = {**_full_row(1), "session_id": "client-session"}
    await store.insert_many([first, {**_full_row(2)}, {**_full_row(1), "chat_output": "again"}])
    stored = {row["id"]: row for row in await store.logs(LogFilter())}
    assert len(stored) == 2
    assert stored[first["id"]]["chat_output"] == "again" and stored[first["id"]]["session_id"] == "client-session"
    await store.aclose()


async def test_full_queue_spills_and_the_spill_is_replayed(tmp_path: Path) -> None:
    store = RequestStore(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    await store.migrate()
    spill = SpillFile(tmp_path / "spill.jsonl")
    writer = new_writer(store, spill, queue_size=5, batch_size=10, flush_interval_s=0.01)
    for i in range(50):  # before the writer runs: 5 queue, 45 spill
        writer.submit(_row(i))
    assert writer.stats().spilled == 45 and spill.pending_records() == 45
    writer.start()
    await writer.flush()
    writer.submit(_row(50))  # a successful write triggers the replay
    await writer.flush()
    await writer.close()
    assert await store.count() == 51
    assert spill.pending_records() == 0
    await store.aclose()


async def test_database_outage_spills_then_replays(postgres_url: str, tmp_path: Path) -> None:
    """PostgreSQL refuses connections for a while: records wait in the spill file, none lost."""
    name = postgres_url.rsplit("/", 1)[1]
    store = RequestStore(postgres_url)
    await store.migrate()
    spill = SpillFile(tmp_path / "spill.jsonl")
    writer = new_writer(store, spill, queue_size=100, batch_size=10, flush_interval_s=0.01)
    writer.start()
    writer.submit(_row(0))
    await writer.flush()

    await asyncio.to_thread(
        _postgres_admin,
        f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false; '
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';",
    )
    await store.engine.dispose()
    for i in range(1, 31):
        writer.submit(_row(i))
    await writer.flush()
    stats = writer.stats()
    assert stats.database_healthy is False and stats.spill_pending == 30

    await asyncio.to_thread(_postgres_admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    await asyncio.sleep(2.1)  # the writer waits 2 s before trying a failed database again
    writer.submit(_row(31))
    await writer.flush()
    await writer.close()
    assert await store.count() == 32
    assert writer.stats().spill_pending == 0 and writer.stats().database_healthy is True
    await store.aclose()


async def test_shutdown_with_the_database_down_spills_what_is_queued(postgres_url: str, tmp_path: Path) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    store = RequestStore(postgres_url)
    await store.migrate()
    spill = SpillFile(tmp_path / "spill.jsonl")
    writer = new_writer(store, spill, queue_size=100, batch_size=100, flush_interval_s=10)
    writer.start()
    await asyncio.to_thread(
        _postgres_admin,
        f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false; '
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';",
    )
    await store.engine.dispose()
    for i in range(20):
        writer.submit(_row(i))
    await writer.close(timeout_s=5)  # the database refuses: everything queued goes to the spill file
    assert spill.pending_records() == 20
    await store.aclose()
    await asyncio.to_thread(_postgres_admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    # the next start replays it
    store = RequestStore(postgres_url)
    writer = new_writer(store, spill, queue_size=100, batch_size=100, flush_interval_s=0.01)
    writer.start()
    writer.submit(_row(20))
    await writer.flush()
    await writer.close()
    assert await store.count() == 21 and spill.pending_records() == 0
    await store.aclose()


def test_failed_migration_stops_the_start(tmp_path: Path) -> None:
    """A database that cannot be migrated stops `llmgateway serve` with a clear message."""
    env = {**os.environ, "LLMGATEWAY_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/none"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("llmgateway")), "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "the request log database could not be migrated" in result.stderr


def test_schema_head_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(store_module.__file__).with_name("migrations")))
    assert ScriptDirectory.from_config(config).get_current_head() == store_module.SCHEMA_HEAD


def _schema_of(connection: Any) -> dict[str, Any]:
    """Every table's columns, primary key, indexes, unique constraints and foreign keys, as
    the database itself reports them (column order aside: a migration appends its columns)."""
    import sqlalchemy

    inspector = sqlalchemy.inspect(connection)
    schema = {}
    for table in inspector.get_table_names():
        schema[table] = {
            "columns": sorted((c["name"], str(c["type"]), c["nullable"], str(c.get("default")), bool(c.get("identity")))
                              for c in inspector.get_columns(table)),  # fmt: skip
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)),
            "unique": sorted((u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)),
            "foreign keys": sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                                   for f in inspector.get_foreign_keys(table)),  # fmt: skip
        }
    schema["alembic_version rows"] = [tuple(row) for row in connection.exec_driver_sql("SELECT * FROM alembic_version")]
    return schema


async def _migrated_by_alembic(url: str) -> dict[str, Any]:
    from alembic import command
    from alembic.config import Config

    def upgrade(connection: Any) -> None:
        config = Config()
        config.set_main_option("script_location", str(Path(store_module.__file__).with_name("migrations")))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    store = RequestStore(url)
    async with store.engine.begin() as conn:
        await conn.run_sync(upgrade)
    async with store.engine.connect() as conn:
        schema = await conn.run_sync(_schema_of)
    await store.aclose()
    return schema


async def _created_by_the_store(url: str) -> dict[str, Any]:
    store = RequestStore(url)
    await store.migrate()
    async with store.engine.connect() as conn:
        schema = await conn.run_sync(_schema_of)
    await store.aclose()
    return schema


def test_a_new_database_is_given_the_schema_the_migrations_make(database_url: str, tmp_path: Path) -> None:
    """An empty database is created from the tables (schema.py) and stamped at the head, not
    migrated step by step: the schema it gets is the one every migration in turn makes, table
    by table, column by column, index by index, on SQLite and on PostgreSQL."""
    created = asyncio.run(_created_by_the_store(database_url))
    if database_url.startswith("sqlite"):
        migrated = asyncio.run(_migrated_by_alembic(f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"))
    else:
        with postgres_database() as other:
            migrated = asyncio.run(_migrated_by_alembic(other))
    assert created == migrated
    assert created["alembic_version rows"] == [(store_module.SCHEMA_HEAD,)]


async def test_a_database_two_revisions_behind_is_migrated_at_start(tmp_path: Path) -> None:
    """A request log left at revision 0003 (as an older release made it) is brought to the
    head at start: the schema check does not skip what is missing."""
    import sqlalchemy
    from alembic import command
    from alembic.config import Config

    path = tmp_path / "old.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(Path(store_module.__file__).with_name("migrations")))
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
    engine.dispose()
    store = RequestStore(f"sqlite+aiosqlite:///{path}")
    await store.migrate()
    await store.engine.dispose()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(store_module.SCHEMA_HEAD,)]
        assert db.execute("SELECT count(*) FROM conversations").fetchone() == (0,)
        assert {"cache", "cost_saved_usd"} <= {row[1] for row in db.execute("PRAGMA table_info(requests)")}


def test_settings_default_to_sqlite_in_the_working_directory() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "sqlite+aiosqlite:///llmgateway.db"


async def test_a_read_waits_for_earlier_records_only_not_for_the_queue_to_run_dry(tmp_path: Path) -> None:
    """Under steady traffic the queue never empties; a read still answers, with the records
    queued before it stored."""
    store = RequestStore(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    await store.migrate()
    writer = new_writer(store, SpillFile(tmp_path / "spill.jsonl"), queue_size=10_000, batch_size=3, flush_interval_s=0.01)
    real_insert = store.insert_many

    async def slow_insert(rows: list[dict]) -> None:
        await asyncio.sleep(0.05)  # a database slower than the traffic
        await real_insert(rows)

    store.insert_many = slow_insert  # type: ignore[method-assign]
    writer.start()
    before = [_row(i) for i in range(5)]
    for row in before:
        writer.submit(row)
    stop = asyncio.Event()

    async def steady_traffic() -> None:
        i = 100
        while not stop.is_set():
            writer.submit(_row(i))
            i += 1
            await asyncio.sleep(0.005)

    traffic = asyncio.create_task(steady_traffic())
    assert await writer.flush(timeout_s=20) is True  # answered, though the queue never ran dry
    still_queued = writer.queue_depth()
    stored = {row["id"] for row in await store.logs(LogFilter(), limit=1000)}
    stop.set()
    await traffic
    assert {row["id"] for row in before} <= stored
    assert still_queued > 0  # it did not wait for the queue to run dry
    await writer.close()
    await store.aclose()


def test_readiness_follows_the_database_and_liveness_does_not(
    gateway_factory: Callable[..., str], postgres_url: str
) -> None:
    """An orchestrator's two questions: `/health/live` while the process answers,
    `/health/ready` only while the request log's database does too."""
    name = postgres_url.rsplit("/", 1)[1]
    url = gateway_factory(database_url=postgres_url)
    assert ready_after_the_warm_up(url).json() == {"status": "ready", "checks": {"database": True}}
    _postgres_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false; '
                    f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';")  # fmt: skip
    try:
        ready = httpx.get(f"{url}/health/ready", timeout=10)
        assert ready.status_code == 503 and ready.json() == {"status": "not ready", "checks": {"database": False}}
        assert httpx.get(f"{url}/health/live").json() == {"status": "live"}
    finally:
        _postgres_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert httpx.get(f"{url}/health/ready", timeout=10).status_code == 200
