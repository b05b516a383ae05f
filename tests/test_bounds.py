"""Bounds hold after every step that grows a request, and slow or bulky clients are cut.

Limits are checked on what goes upstream (a session's history included); the session cache
is bounded in bytes; upstream attempts per client request are bounded whatever `retries`
and `fallbacks` ask; CSV is safe to open and cheap to make; a body that trickles in gets a
408 and a head past its bound a 431.
"""

from __future__ import annotations

import csv
import io
import socket
import time
from typing import Callable

import httpx

from tests.conftest import served
from tests.emulators.openai import Fault, OpenAIEmulator

CHAT = "/api/engine/chat/openai"


def test_session_history_counts_against_the_message_limit(
    gateway_factory: Callable[..., str], openai_emulator: OpenAIEmulator
) -> None:
    url = gateway_factory(max_messages=6)
    with httpx.Client(base_url=url, timeout=30) as c:
        statuses = []
        for turn in range(4):  # each turn adds its question and the answer
            body = {"model": "gpt-4o-mini", "chat_input": f"turn {turn}", "session_id": "long-session"}
            statuses.append(c.post(CHAT, json=body).status_code)
            time.sleep(0.2)  # the turn is recorded before the next one reads the session
        refused = c.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "once more", "session_id": "long-session"})
    # turn 3 would send 7 messages (3 earlier turns of 2, and its own)
    assert statuses == [200, 200, 200, 422], statuses
    assert refused.status_code == 422 and "LLMGATEWAY_MAX_MESSAGES" in refused.json()["error"]["message"]
    assert max(len(body["messages"]) for body in openai_emulator.requests) == 5


async def test_session_cache_is_bounded_in_bytes(tmp_path) -> None:
    from llmgateway.tracking.tracker import Tracker
    from tests.conftest import make_settings

    tracker = Tracker(make_settings(tmp_path, session_cache_bytes=100_000, tracking_enabled=False))
    big = [{"role": "user", "content": "x" * 20_000}]
    for i in range(20):
        tracker._remember(f"s{i}", 0, big)  # noqa: SLF001 - the cache's own bound is what is tested
    assert 80_000 <= tracker.session_cache_bytes <= 100_000
    assert await tracker.conversation("s19") == big  # the newest are kept
    assert await tracker.conversation("s0") == []  # the oldest went (tracking off: nothing to read back)


def test_upstream_attempts_are_bounded_whatever_retries_and_fallbacks_ask(
    gateway_factory: Callable[..., str], openai_emulator: OpenAIEmulator
) -> None:
    url = gateway_factory(max_attempts=7)
    for _ in range(200):
        openai_emulator.faults.append(Fault("status", status=503))
    body = {"model": "gpt-4o-mini", "chat_input": "hi", "retries": 10, "fallbacks": ["openai/gpt-4o"] * 10}
    r = httpx.post(f"{url}{CHAT}", json=body, timeout=60)
    assert r.status_code == 502
    assert len(openai_emulator.requests) == 7
    record = httpx.get(f"{url}/api/tracking/logs").json()[0]
    assert len(record["attempts"]) == 7


def test_csv_cells_a_spreadsheet_would_evaluate_are_neutralised(client: httpx.Client) -> None:
    rows = [{"a": "=HYPERLINK(\"http://x\")", "b": "+1+2", "c": "-3", "d": "@SUM(A1)", "e": "\tx", "f": "plain", "g": -4}]
    r = client.post("/api/export", json=rows)
    assert r.status_code == 200
    parsed = list(csv.DictReader(io.StringIO(r.text)))
    assert parsed == [{"a": "'=HYPERLINK(\"http://x\")", "b": "'+1+2", "c": "'-3", "d": "'@SUM(A1)", "e": "'\tx",
                       "f": "plain", "g": "-4"}]  # fmt: skip


def test_csv_export_of_the_log_is_neutralised(client: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    assert client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "=1+1"}).status_code == 200
    time.sleep(0.2)
    parsed = list(csv.DictReader(io.StringIO(client.get("/api/tracking/logs", params={"format": "csv"}).text)))
    assert parsed[0]["chat_input"] == "'=1+1"


def test_csv_export_stays_bounded_and_answers_while_it_works(client: httpx.Client) -> None:
    wide = [{f"k{i}": i} for i in range(5000)]  # 5,000 distinct columns: would be 25 million cells
    r = client.post("/api/export", json=wide)
    assert r.status_code == 422 and "columns" in r.json()["error"]["message"]
    for depth in (500, 5000):  # within the JSON parser's reach, and past it
        nested = '{"k": ' * depth + '{"v": 1}' + "}" * depth
        r = client.post("/api/export", content=f"[{nested}]".encode(), headers={"content-type": "application/json"})
        if depth == 500:
            assert r.status_code == 200, r.text
            header = r.text.splitlines()[0]
            assert header == ".".join(["k"] * 8)  # flattened to a bounded depth; the rest stays JSON
            assert len(r.content) < 10_000
        else:
            assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_json"


def _raw_request(port: int, head: bytes, body_pieces: list[bytes], gap_s: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        try:
            for piece in body_pieces:
                sock.sendall(piece)
                time.sleep(gap_s)
        except OSError:
            pass  # the gateway closed the connection on us
        sock.settimeout(5)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    return answer


def test_a_body_that_trickles_in_is_cut_with_a_408(tmp_path, openai_emulator: OpenAIEmulator) -> None:
    body = b'{"model": "gpt-4o-mini", "chat_input": "hi"}'
    head = (f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()  # fmt: skip
    with served(tmp_path, LLMGATEWAY_BODY_TIMEOUT_S="1") as (port, _process):
        started = time.monotonic()
        answer = _raw_request(port, head, [body[i : i + 1] for i in range(len(body))], gap_s=0.1)
        elapsed = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"LLMGATEWAY_BODY_TIMEOUT_S" in answer and b"connection: close" in answer.lower()
        assert openai_emulator.requests == []
        assert elapsed < len(body) * 0.1  # cut before the client finished sending
        # a body sent at once is unaffected
        assert httpx.post(f"http://127.0.0.1:{port}{CHAT}", content=body, headers={"content-type": "application/json"}).status_code == 200


def test_a_head_past_its_bound_gets_a_431(tmp_path, openai_emulator: OpenAIEmulator) -> None:
    with served(tmp_path, LLMGATEWAY_MAX_HEADER_BYTES="16384") as (port, _process):
        huge = b"x" * 1_000_000
        head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + huge + b"\r\n\r\n"
        answer = _raw_request(port, head, [], gap_s=0)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
        assert b"LLMGATEWAY_MAX_HEADER_BYTES" in answer
        ok = httpx.get(f"http://127.0.0.1:{port}/health", headers={"X-Fine": "y" * 8000})
        assert ok.status_code == 200
