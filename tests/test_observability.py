"""Prometheus metrics move with requests; traces carry GenAI attributes; access logs are JSON."""

from __future__ import annotations

import asyncio
import json
import re
import select
import sys
from pathlib import Path

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmgateway.api.app import create_app
from llmgateway.observability.access_log import AccessLines
from tests.conftest import SSE, make_settings, served
from tests.emulators.openai import DEFAULT_REPLY, VALID_KEY, Fault, OpenAIEmulator
from tests.emulators.server import serve_in_thread

CHAT = "/api/engine/chat/openai"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series of a Prometheus exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:]+)(?:\{(.*)\})? (\S+)$", line)
        if match and match.group(1) == name:
            found = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
            if found == wanted:
                return float(match.group(3))
    return 0.0


def test_metrics_series_move_after_requests(client: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    before = client.get("/metrics")
    assert before.status_code == 200 and before.headers["content-type"].startswith("text/plain")
    client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi"})
    with client.stream("POST", CHAT, headers=SSE, json={"model": "gpt-4o-mini", "chat_input": "hi", "is_stream": True}) as s:
        s.read()
    openai_emulator.faults.append(Fault("status", status=500))
    client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi"})
    client.post(CHAT, json={"model": "my-own-finetune-123", "chat_input": "hi"})  # not in the catalog
    text = client.get("/metrics").text
    ok = {"provider": "openai", "model": "gpt-4o-mini"}
    assert sample(text, "llmgateway_requests_total", **ok, status="success") == 2
    assert sample(text, "llmgateway_requests_total", **ok, status="error") == 1
    assert sample(text, "llmgateway_requests_total", provider="openai", model="other", status="success") == 1
    assert sample(text, "llmgateway_request_latency_seconds_count", **ok) == 3
    assert sample(text, "llmgateway_time_to_first_token_seconds_count", **ok) == 2
    assert sample(text, "llmgateway_inter_token_latency_seconds_count", **ok) == 2
    assert sample(text, "llmgateway_tokens_total", **ok, kind="output") == 24
    assert sample(text, "llmgateway_cost_usd_total", **ok) > 0
    assert sample(text, "llmgateway_requests_in_flight") == 0
    assert "llmgateway_tracking_queue_depth" in text and "llmgateway_tracking_spilled_records" in text
    assert "my-own-finetune" not in text  # labels stay bounded


def test_no_spans_unless_tracing_is_enabled(tmp_path: Path, openai_emulator: OpenAIEmulator) -> None:
    exporter = InMemorySpanExporter()
    app = create_app(make_settings(tmp_path, otel_enabled=False), span_exporter=exporter)
    with serve_in_thread(app, lifespan="on") as url:
        assert httpx.post(f"{url}{CHAT}", json={"model": "gpt-4o-mini", "chat_input": "hi"}).status_code == 200
    assert exporter.get_finished_spans() == ()


def test_traces_have_a_span_per_request_and_per_attempt(tmp_path: Path, openai_emulator: OpenAIEmulator) -> None:
    exporter = InMemorySpanExporter()
    app = create_app(make_settings(tmp_path, otel_enabled=True), span_exporter=exporter)
    openai_emulator.faults.append(Fault("status", status=503))
    with serve_in_thread(app, lifespan="on") as url:
        r = httpx.post(f"{url}{CHAT}", json={"model": "gpt-4o-mini", "chat_input": "hi", "retries": 1})
        assert r.status_code == 200
    spans = {s.name: s for s in exporter.get_finished_spans()}
    request_span = spans["chat gpt-4o-mini"]
    a = request_span.attributes
    assert a["gen_ai.system"] == "openai" and a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.usage.output_tokens"] == 12 and a["gen_ai.usage.input_tokens"] > 0
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    attempts = [s for s in exporter.get_finished_spans() if s.name.startswith("attempt ")]
    assert len(attempts) == 2 and all(s.parent.span_id == request_span.context.span_id for s in attempts)
    assert attempts[0].status.status_code.name == "ERROR" and attempts[1].status.status_code.name == "UNSET"


def test_access_log_is_one_json_line_per_request_without_contents(tmp_path: Path, openai_emulator) -> None:
    body_key = "sk-proj-ACCESSLOGKEY-0000"
    with served(tmp_path) as (port, _):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            c.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "secret question"})
            c.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi", "api_key": body_key})
            c.get("/health")
    lines = [json.loads(line) for line in (tmp_path / "server.log").read_text().splitlines() if line.startswith("{")]
    chats = [line for line in lines if line["path"] == CHAT]
    assert len(chats) == 2
    ok, refused = chats
    assert ok["status"] == 200 and ok["provider"] == "openai" and ok["output_tokens"] == 12 and ok["cost_usd"] > 0
    assert ok["call_status"] == "success" and ok["duration_ms"] > 0
    assert refused["status"] == 401 and refused["error_type"] == "upstream_authentication_error"
    assert any(line["path"] == "/health" for line in lines)
    log = (tmp_path / "server.log").read_text()
    assert "secret question" not in log and body_key not in log and VALID_KEY not in log


class _RecordedStderr:
    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        pass


async def test_access_lines_of_a_turn_leave_at_its_end_in_whole_lines_no_write_past_pipe_buf(monkeypatch) -> None:
    """Workers share one stderr, often a pipe: a write of at most PIPE_BUF bytes is never
    split by another's, so each write holds whole lines within that bound (one longer line
    goes alone), in the order the requests ended."""
    stderr = _RecordedStderr()
    monkeypatch.setattr(sys, "stderr", stderr)
    lines = AccessLines()
    for i in range(200):
        lines.add({"i": i, "path": "/api/engine/chat/openai"})
    lines.add({"i": 200, "path": "/" + "x" * select.PIPE_BUF})
    lines.add({"i": 201, "path": "/health"})
    assert stderr.writes == []  # held for the rest of the turn
    await asyncio.sleep(0)
    written = [json.loads(line)["i"] for write in stderr.writes for line in write.splitlines()]
    assert written == list(range(202))
    assert all(write.endswith("\n") for write in stderr.writes)
    long_write = next(write for write in stderr.writes if '"i":200' in write)
    assert long_write.count("\n") == 1
    assert all(len(write.encode()) <= select.PIPE_BUF for write in stderr.writes if write is not long_write)
    assert len(stderr.writes) <= 200 * 45 // select.PIPE_BUF + 3  # together, not a write a line


def test_with_our_access_log_off_uvicorns_lines_are_written_and_scrubbed(tmp_path: Path, openai_emulator) -> None:
    """uvicorn's access formatter reads its record's arguments: the scrubbing filter keeps
    them (scrubbed), so each request still gets its line, not a logging error."""
    with served(tmp_path, LLMGATEWAY_ACCESS_LOG="false") as (port, _):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            assert c.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi"}).status_code == 200
            assert c.get("/health", params={"key": VALID_KEY}).status_code == 200
    log = (tmp_path / "server.log").read_text()
    assert "Logging error" not in log and VALID_KEY not in log
    assert f'"POST {CHAT} HTTP/1.1" 200' in log
    assert re.search(r'"GET /health\?\S*redacted\S* HTTP/1.1" 200', log)


def test_access_log_carries_contents_only_when_asked(tmp_path: Path, openai_emulator) -> None:
    with served(tmp_path, LLMGATEWAY_ACCESS_LOG_CONTENTS="true") as (port, _):
        body = {"model": "gpt-4o-mini", "chat_input": "the question", "api_key": VALID_KEY}
        assert httpx.post(f"http://127.0.0.1:{port}{CHAT}", json=body).status_code == 200
    (line,) = [json.loads(line) for line in (tmp_path / "server.log").read_text().splitlines()
               if line.startswith("{") and CHAT in line]  # fmt: skip
    assert (line["chat_input"], line["chat_output"]) == ("the question", DEFAULT_REPLY)
    assert VALID_KEY not in (tmp_path / "server.log").read_text()
