"""Virtual keys and teams: authentication, models a key may use, requests a minute held
exactly under concurrency (one instance, and three on Redis), revocation, the CLI."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from tests.conftest import ENTRY_POINT, RedisServer, postgres_database, running_redis, served
from tests.http_load import Answer, load_session, post

MASTER = "mk-test-master-key-0123456789"
ADMIN = {"Authorization": f"Bearer {MASTER}"}
ECHO = {"model": "echo", "chat_input": "hi"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_key(url: str, **fields: Any) -> dict[str, Any]:
    r = httpx.post(f"{url}/api/admin/keys", json={"name": "k", **fields}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()


def logs(url: str, **params: Any) -> list[dict[str, Any]]:
    return httpx.get(f"{url}/api/tracking/logs", params={"limit": 1000, **params}, headers=ADMIN).json()


@pytest.fixture
def governed(gateway_factory: Callable[..., str]) -> str:
    return gateway_factory(master_key=MASTER)


def test_a_key_opens_both_apis_and_its_requests_carry_it(governed: str, tmp_path: Path) -> None:
    team = httpx.post(f"{governed}/api/admin/teams", json={"name": "research"}, headers=ADMIN).json()
    key = new_key(governed, name="alice", team="research")
    assert key["key"].startswith("lgw-") and key["team_id"] == team["id"] and key["hint"] == key["key"][:8]
    engine = httpx.post(f"{governed}/api/engine/chat/mock", json=ECHO, headers=bearer(key["key"]))
    v1 = httpx.post(f"{governed}/v1/chat/completions", headers={"x-api-key": key["key"]},
                    json={"model": "mock/echo", "messages": [{"role": "user", "content": "hi"}]})  # fmt: skip
    assert (engine.status_code, v1.status_code) == (200, 200)
    rows = logs(governed)
    assert [(row["virtual_key_id"], row["team_id"]) for row in rows] == [(key["id"], team["id"])] * 2
    listed = httpx.get(f"{governed}/api/admin/keys", headers=ADMIN).json()
    assert [k["id"] for k in listed] == [key["id"]] and "key" not in listed[0] and "key_hash" not in listed[0]
    with sqlite3.connect(tmp_path / "llmgateway.db") as db:  # only a keyed hash is stored
        stored = db.execute("SELECT * FROM virtual_keys").fetchall()
    assert key["key"] not in repr(stored) and key["key"][8:] not in repr(stored)


@pytest.mark.parametrize("make", ["forged", "malformed", "expired", "revoked"])
def test_a_bad_key_is_a_401_and_recorded(governed: str, make: str) -> None:
    if make == "forged":
        token = "lgw-" + "x" * 43
    elif make == "malformed":
        token = "sk-not-ours"
    elif make == "expired":
        token = new_key(governed, expires_in_s=0.3)["key"]
        assert httpx.post(f"{governed}/api/engine/chat/mock", json=ECHO, headers=bearer(token)).status_code == 200
        time.sleep(0.5)
    else:
        made = new_key(governed)
        token = made["key"]
        assert httpx.post(f"{governed}/api/admin/keys/{made['id']}/revoke", headers=ADMIN).json()["revoked_now"] is True
    r = httpx.post(f"{governed}/api/engine/chat/mock", json=ECHO, headers=bearer(token))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    expected = {"forged": ("invalid_api_key", "unknown key"), "malformed": ("unauthorized", "this gateway requires a key"),
                "expired": ("invalid_api_key", "has expired"), "revoked": ("invalid_api_key", "was revoked")}[make]  # fmt: skip
    assert r.json()["error"]["type"] == expected[0] and expected[1] in r.json()["error"]["message"]
    if make != "malformed":  # a key of ours that failed: the refusal is in the log
        refused = [row for row in logs(governed, status="error") if row["error_type"] == "invalid_api_key"]
        assert len(refused) == 1 and refused[0]["surface"] == "access"


def test_a_key_may_use_only_its_models_and_not_the_admin_api(governed: str, openai_emulator: Any) -> None:
    key = new_key(governed, name="mock-only", models=["mock/*"])
    headers = bearer(key["key"])
    assert httpx.post(f"{governed}/api/engine/chat/mock", json=ECHO, headers=headers).status_code == 200
    refused = httpx.post(f"{governed}/api/engine/chat/openai", json={"model": "gpt-4o-mini", "chat_input": "hi"}, headers=headers)
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "model_not_allowed"
    assert openai_emulator.requests == []
    admin = httpx.get(f"{governed}/api/admin/keys", headers=headers)
    assert admin.status_code == 403 and admin.json()["error"]["type"] == "admin_only"
    rows = logs(governed, status="error")
    assert [(row["error_type"], row["virtual_key_id"]) for row in rows if row["error_type"] == "model_not_allowed"] == [
        ("model_not_allowed", key["id"])]  # fmt: skip


# All of a burst's requests are sent at once over 32 connections, so that many are in the
# gateways together (more only slow the Python servers down on this 2-core machine).
BURST_CONNECTIONS = 32


async def _burst(url: str | list[str], token: str, count: int, body: dict[str, Any] = ECHO) -> list[Answer]:
    """`count` mock requests with `token`, all sent at once, spread over the gateways at `url`."""
    urls = url if isinstance(url, list) else [url]
    async with load_session(BURST_CONNECTIONS) as session:
        return await asyncio.gather(*(post(session, f"{urls[i % len(urls)]}/api/engine/chat/mock", body, bearer(token))
                                      for i in range(count)))  # fmt: skip


def _assert_exactly(responses: list[Answer], admitted: int) -> None:
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == admitted and statuses.count(429) == len(statuses) - admitted
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["type"] == "rate_limited" and int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-ratelimit-limit-requests"] == str(admitted) and refused.headers["x-ratelimit-remaining-requests"] == "0"
    remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in responses if r.status_code == 200)
    assert remaining == list(range(admitted))  # each admitted request was counted once


@pytest.mark.slow
def test_requests_a_minute_hold_exactly_on_one_instance(governed: str) -> None:
    key = new_key(governed, rpm=50)  # the three-instance test below sends 1,000 against 100
    _assert_exactly(asyncio.run(_burst(governed, key["key"], 500)), 50)


def test_a_teams_limit_counts_all_its_keys(governed: str) -> None:
    httpx.post(f"{governed}/api/admin/teams", json={"name": "small", "rpm": 5}, headers=ADMIN)
    one, other = new_key(governed, team="small"), new_key(governed, team="small")
    statuses = [httpx.post(f"{governed}/api/engine/chat/mock", json=ECHO, headers=bearer(k["key"])).status_code
                for k in (one, other) * 4]  # fmt: skip
    assert statuses == [200] * 5 + [429] * 3


@pytest.fixture(scope="module")
def three_instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Three gateways sharing one PostgreSQL database and one Redis, started once for this
    module's exactness tests (each test counts against keys of its own)."""
    workdir = tmp_path_factory.mktemp("three-instances")
    with postgres_database() as database_url, running_redis(workdir) as redis, ExitStack() as stack:
        env = {"LLMGATEWAY_DATABASE_URL": database_url, "LLMGATEWAY_REDIS_URL": redis.url, "LLMGATEWAY_MASTER_KEY": MASTER,
               "LLMGATEWAY_CATALOG": str(priced_catalog(workdir)), "LLMGATEWAY_LOG_LEVEL": "warning"}  # fmt: skip
        urls = []
        for i in range(3):
            (workdir / f"g{i}").mkdir()
            urls.append(f"http://127.0.0.1:{stack.enter_context(served(workdir / f'g{i}', **env))[0]}")
        yield urls


@pytest.mark.slow
def test_three_instances_hold_the_limit_exactly_and_revoke_at_once(three_instances: list[str]) -> None:
    urls = three_instances
    key = new_key(urls[0], rpm=100)
    _assert_exactly(asyncio.run(_burst(urls, key["key"], 1000)), 100)
    other = new_key(urls[1])
    assert httpx.post(f"{urls[2]}/api/engine/chat/mock", json=ECHO, headers=bearer(other["key"])).status_code == 200
    httpx.post(f"{urls[0]}/api/admin/keys/{other['id']}/revoke", headers=ADMIN)
    refused = httpx.post(f"{urls[2]}/api/engine/chat/mock", json=ECHO, headers=bearer(other["key"]))
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]


def test_keys_and_teams_from_the_cli(tmp_path: Path) -> None:
    env = {**os.environ, "LLMGATEWAY_MASTER_KEY": MASTER}
    with served(tmp_path, LLMGATEWAY_MASTER_KEY=MASTER) as (port, _process):
        url = f"http://127.0.0.1:{port}"

        def cli(*args: str) -> str:
            run = subprocess.run([str(ENTRY_POINT), *args, "--url", url], env=env, capture_output=True, text=True, timeout=60)
            assert run.returncode == 0, run.stderr
            return run.stdout

        assert cli("teams", "create", "research", "--rpm", "50").split()[1] == "research"
        created = cli("keys", "create", "bob", "--team", "research", "--model", "mock/*", "--rpm", "7", "--tpm", "2000000",
                      "--max-parallel", "4", "--retries", "1", "--timeout", "30").splitlines()  # fmt: skip
        token, key_id = created[0], created[1].split()[1].rstrip(":")
        assert token.startswith("lgw-")
        assert httpx.post(f"{url}/api/engine/chat/mock", json=ECHO, headers=bearer(token)).status_code == 200
        listed = cli("keys", "list")
        assert key_id in listed and "bob" in listed and "active" in listed and "rpm 7" in listed and "mock/*" in listed
        assert "tpm 2000000" in listed and "parallel 4" in listed  # mock/echo: a context window of 1,000,000
        shown = cli("keys", "show", key_id)
        assert '"retries": 1' in shown and '"timeout_s": 30.0' in shown
        token = cli("keys", "rotate", key_id, "--grace-hours", "0").splitlines()[0]
        assert httpx.post(f"{url}/api/engine/chat/mock", json=ECHO, headers=bearer(token)).status_code == 200
        cli("keys", "revoke", key_id)
        assert "revoked" in cli("keys", "list")
        assert httpx.post(f"{url}/api/engine/chat/mock", json=ECHO, headers=bearer(token)).status_code == 401
        assert "research" in cli("teams", "list")


@pytest.mark.parametrize(("choice", "status"), [("local", 200), ("refuse", 503)])
def test_limits_with_redis_down_follow_the_operators_choice(
    gateway_factory: Callable[..., str], redis_server: RedisServer, choice: str, status: int
) -> None:
    url = gateway_factory(master_key=MASTER, redis_url=redis_server.url, limits_without_redis=choice)
    key = new_key(url, rpm=2)
    assert httpx.post(f"{url}/api/engine/chat/mock", json=ECHO, headers=bearer(key["key"])).status_code == 200
    redis_server.stop()
    r = httpx.post(f"{url}/api/engine/chat/mock", json=ECHO, headers=bearer(key["key"]), timeout=30)
    assert r.status_code == status
    if choice == "refuse":
        assert r.json()["error"]["type"] == "limits_unavailable"
    else:  # this instance counts alone from here: its own count starts afresh
        statuses = [httpx.post(f"{url}/api/engine/chat/mock", json=ECHO, headers=bearer(key["key"])).status_code for _ in range(2)]
        assert statuses == [200, 429]



def test_a_burst_on_a_new_ledger_reads_the_request_log_once(redis_server: RedisServer) -> None:
    """Every request of a burst finds the period's ledger missing; the instance reads what was
    spent once for all of them (one query each would hold the burst past the bound on Redis
    calls, and the instances would then count alone), and the ledger holds exactly."""
    import redis.asyncio as redis

    from llmgateway.shared.redis_budgets import RedisLedger
    from llmgateway.vocabulary.admission import Account

    readings: list[str] = []

    async def spent_so_far(account: Account) -> float:
        readings.append(account.name)
        await asyncio.sleep(0.05)  # a query's time: the rest of the burst arrives meanwhile
        return 0.5

    async def burst() -> list[Account | None]:
        client = redis.Redis.from_url(redis_server.url)
        try:
            ledger = RedisLedger(client, "t")
            account = Account("key:k1:0", "key", "k1", 1.0, 0.0, None)
            return await asyncio.gather(*(ledger.reserve([account], 0.1, spent_so_far) for _ in range(50)))
        finally:
            await client.aclose()

    refused = asyncio.run(burst())
    assert readings == ["key:k1:0"]
    assert refused.count(None) == 5  # $0.50 left: five holds of $0.10


# -- budgets -----------------------------------------------------------------------------------

PRICED = ("providers:\n  mock:\n    models:\n      priced: {context_window: 1000, input_cost_per_token: 0.0, output_cost_per_token: 0.04}\n"
          "      unpriced: {context_window: 1000}\n")  # fmt: skip
ONE_WORD = {"model": "priced", "chat_input": "hi", "parameters": {"max_tokens": 1}}  # costs $0.04, worst case too


def priced_catalog(tmp_path: Path) -> Path:
    path = tmp_path / "priced.yaml"
    path.write_text(PRICED)
    return path


def _recorded_spend(url: str, key_id: str) -> float:
    deadline = time.monotonic() + 10
    while True:
        rows = [row for row in logs(url, provider="mock", status="success") if row["virtual_key_id"] == key_id]
        total = sum(row["cost_usd"] for row in rows)
        if rows or time.monotonic() > deadline:
            return total
        time.sleep(0.05)


def _assert_budget_held(responses: list[Answer], served: int) -> None:
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == served and statuses.count(429) == len(statuses) - served
    refused = next(r for r in responses if r.status_code == 429).json()["error"]
    assert refused["type"] == "budget_exceeded" and "key's budget of $1" in refused["message"]


@pytest.mark.slow
def test_a_budget_holds_exactly_under_concurrency_on_one_instance(gateway_factory: Callable[..., str], tmp_path: Path) -> None:
    url = gateway_factory(master_key=MASTER, catalog=priced_catalog(tmp_path))
    key = new_key(url, budget_usd=1.0, budget_period="total")
    _assert_budget_held(asyncio.run(_burst(url, key["key"], 500, ONE_WORD)), 25)  # $1.00 / $0.04
    assert _recorded_spend(url, key["id"]) == pytest.approx(1.0)


@pytest.mark.slow
def test_a_budget_holds_exactly_on_three_instances(three_instances: list[str]) -> None:
    urls = three_instances
    key = new_key(urls[0], budget_usd=1.0, budget_period="day")
    _assert_budget_held(asyncio.run(_burst(urls, key["key"], 500, ONE_WORD)), 25)
    assert _recorded_spend(urls[1], key["id"]) == pytest.approx(1.0)


def test_a_team_over_budget_refuses_its_keys_and_failures_cost_nothing(
    gateway_factory: Callable[..., str], tmp_path: Path
) -> None:
    url = gateway_factory(master_key=MASTER, catalog=priced_catalog(tmp_path))
    httpx.post(f"{url}/api/admin/teams", json={"name": "tight", "budget_usd": 0.08, "budget_period": "week"}, headers=ADMIN)
    key = new_key(url, team="tight", budget_usd=1.0)
    failing = {**ONE_WORD, "parameters": {"max_tokens": 1, "error_status": 500}}
    for _ in range(3):  # failures cost nothing: their holds are released
        assert httpx.post(f"{url}/api/engine/chat/mock", json=failing, headers=bearer(key["key"])).status_code == 502
    statuses = [httpx.post(f"{url}/api/engine/chat/mock", json=ONE_WORD, headers=bearer(key["key"])).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = httpx.post(f"{url}/api/engine/chat/mock", json=ONE_WORD, headers=bearer(key["key"]))
    assert "team's budget of $0.08" in refused.json()["error"]["message"] and int(refused.headers["retry-after"]) > 0
    unpriced = httpx.post(f"{url}/api/engine/chat/mock", json={**ECHO, "model": "unpriced"}, headers=bearer(key["key"]))
    assert unpriced.status_code == 400 and unpriced.json()["error"]["type"] == "model_has_no_price"


def test_spend_survives_a_restart(tmp_path: Path) -> None:
    env = {"LLMGATEWAY_MASTER_KEY": MASTER, "LLMGATEWAY_CATALOG": str(priced_catalog(tmp_path))}
    with served(tmp_path, **env) as (port, _process):
        url = f"http://127.0.0.1:{port}"
        key = new_key(url, budget_usd=0.12, budget_period="month")
        assert [httpx.post(f"{url}/api/engine/chat/mock", json=ONE_WORD, headers=bearer(key["key"])).status_code
                for _ in range(2)] == [200, 200]  # fmt: skip
    with served(tmp_path, **env) as (port, _process):  # a new process: its ledger starts from the log
        url = f"http://127.0.0.1:{port}"
        assert [httpx.post(f"{url}/api/engine/chat/mock", json=ONE_WORD, headers=bearer(key["key"])).status_code
                for _ in range(2)] == [200, 429]  # fmt: skip


def test_a_rotated_key_keeps_its_old_value_for_the_grace_only(governed: str) -> None:
    made = new_key(governed, name="rotating")
    rotated = httpx.post(f"{governed}/api/admin/keys/{made['id']}/rotate", json={"grace_s": 0.5}, headers=ADMIN)
    assert rotated.status_code == 200 and rotated.json()["id"] == made["id"] and rotated.json()["key"] != made["key"]
    for token in (made["key"], rotated.json()["key"]):  # both work within the grace
        assert httpx.post(f"{governed}/api/engine/chat/mock", json=ECHO, headers=bearer(token)).status_code == 200
    time.sleep(0.7)
    assert httpx.post(f"{governed}/api/engine/chat/mock", json=ECHO, headers=bearer(made["key"])).status_code == 401
    assert httpx.post(f"{governed}/api/engine/chat/mock", json=ECHO, headers=bearer(rotated.json()["key"])).status_code == 200


def test_spend_reports_per_key_team_model_and_day_and_per_team_in_prometheus(
    gateway_factory: Callable[..., str], tmp_path: Path
) -> None:
    url = gateway_factory(master_key=MASTER, catalog=priced_catalog(tmp_path))
    team = httpx.post(f"{url}/api/admin/teams", json={"name": "labs"}, headers=ADMIN).json()
    alice, bob = new_key(url, name="alice", team="labs"), new_key(url, name="bob")
    for token, times in ((alice["key"], 3), (bob["key"], 1)):
        for _ in range(times):
            assert httpx.post(f"{url}/api/engine/chat/mock", json=ONE_WORD, headers=bearer(token)).status_code == 200
    _recorded_spend(url, bob["id"])  # the records are written
    by_key = httpx.get(f"{url}/api/admin/spend", params={"group_by": "key"}, headers=ADMIN).json()
    assert sorted((row["name"], row["requests"], row["cost_usd"]) for row in by_key) == [("alice", 3, 0.12), ("bob", 1, 0.04)]
    by_team = httpx.get(f"{url}/api/admin/spend", params={"group_by": "team"}, headers=ADMIN).json()
    assert [(row["team"], row["name"], row["cost_usd"]) for row in by_team] == [(team["id"], "labs", 0.12)]
    (by_day,) = httpx.get(f"{url}/api/admin/spend", params={"group_by": "day"}, headers=ADMIN).json()
    assert by_day["day"] == time.strftime("%Y-%m-%d", time.gmtime()) and by_day["cost_usd"] == pytest.approx(0.16)
    csv = httpx.get(f"{url}/api/admin/spend", params={"group_by": "model", "format": "csv"}, headers=ADMIN)
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.splitlines()[1].startswith("priced,4,0,")
    assert f'llmgateway_team_cost_usd_total{{team="{team["id"]}"}} 0.12' in httpx.get(f"{url}/metrics", headers=ADMIN).text


# -- tokens a minute, concurrent requests, a key's retries and timeout ---------------------------

# A streamed echo of "hi" that takes a while: the gateway reserves its worst case, 13 tokens (8
# for the prompt by the tokenizer: 3 + 3 per message + 1 for the role + 1 for "hi"; max_tokens
# 5), and the mock reports 2 at the end of the stream (1 word in, 1 out).
SLOW_STREAM = {"model": "echo", "chat_input": "hi", "is_stream": True, "parameters": {"max_tokens": 5, "first_token_s": 1.5}}
RESERVED, SETTLED = 13, 2


def _assert_tokens_held(responses: list[Answer], admitted: int, limit: int) -> None:
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == admitted and statuses.count(429) == len(statuses) - admitted
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["type"] == "rate_limited" and "tokens per minute" in refused.json()["error"]["message"]
    assert refused.headers["x-ratelimit-limit-tokens"] == str(limit) and refused.headers["x-ratelimit-remaining-tokens"] == "0"


def _tokens_settled(url: str, key_id: str, expected_rows: int) -> int:
    deadline = time.monotonic() + 10
    while True:
        rows = [row for row in logs(url, status="success") if row["virtual_key_id"] == key_id]
        if len(rows) >= expected_rows or time.monotonic() > deadline:
            return sum(row["input_tokens"] + row["output_tokens"] for row in rows)
        time.sleep(0.05)


def _tokens_a_minute_hold(urls: list[str]) -> None:
    """130 tokens a minute: while the first streams are in flight, 10 fit (10 x 13); once they
    have settled to 2 tokens each, 110 are left, and 8 more fit (8 x 13 = 104)."""
    key = new_key(urls[0], tpm=130)
    _assert_tokens_held(asyncio.run(_burst(urls, key["key"], 100, SLOW_STREAM)), 10, 130)
    assert _tokens_settled(urls[-1], key["id"], 10) == 10 * SETTLED
    _assert_tokens_held(asyncio.run(_burst(urls, key["key"], 100, SLOW_STREAM)), 8, 130)
    assert _tokens_settled(urls[-1], key["id"], 18) == 18 * SETTLED <= 130


def _concurrency_holds(urls: list[str]) -> None:
    key = new_key(urls[0], max_parallel=3)
    responses = asyncio.run(_burst(urls, key["key"], 60, SLOW_STREAM))
    assert [r.status_code for r in responses].count(200) == 3
    refused = next(r for r in responses if r.status_code == 429)
    assert "concurrent requests (3)" in refused.json()["error"]["message"] and refused.headers["retry-after"] == "1"
    # the slots are free again once the calls have ended
    assert asyncio.run(_burst(urls, key["key"], 3, SLOW_STREAM))[-1].status_code == 200


@pytest.mark.slow
def test_tokens_a_minute_and_concurrency_hold_exactly_on_one_instance(governed: str) -> None:
    _tokens_a_minute_hold([governed])
    _concurrency_holds([governed])


@pytest.mark.slow
def test_tokens_a_minute_and_concurrency_hold_exactly_on_three_instances(three_instances: list[str]) -> None:
    _tokens_a_minute_hold(three_instances)
    _concurrency_holds(three_instances)


def test_a_teams_tokens_count_all_its_keys_and_answers_say_what_is_left(governed: str) -> None:
    httpx.post(f"{governed}/api/admin/teams", json={"name": "tokens", "tpm": 15}, headers=ADMIN)
    one, other = new_key(governed, team="tokens", tpm=1000), new_key(governed, team="tokens")
    body = {"model": "echo", "chat_input": "hi", "parameters": {"max_tokens": 5}}
    first = httpx.post(f"{governed}/api/engine/chat/mock", json=body, headers=bearer(one["key"]))
    # the key's own limit in the header, and the least room left in any of its windows (the team's)
    assert (first.headers["x-ratelimit-limit-tokens"], first.headers["x-ratelimit-remaining-tokens"]) == ("1000", str(15 - RESERVED))
    second = httpx.post(f"{governed}/api/engine/chat/mock", json=body, headers=bearer(other["key"]))
    assert second.status_code == 200  # the first settled to 2: 2 + 13 fit in 15
    assert second.headers["x-ratelimit-remaining-tokens"] == str(15 - SETTLED - RESERVED) == "0"
    third = httpx.post(f"{governed}/api/engine/chat/mock", json=body, headers=bearer(one["key"]))  # 2 + 2 + 13 > 15
    assert third.status_code == 429 and "the team of key" in third.json()["error"]["message"]


def test_a_keys_retries_and_timeout_are_its_requests_default_and_most(governed: str) -> None:
    key = new_key(governed, retries=0, timeout_s=0.5)
    failing = {"model": "echo", "chat_input": "hi", "retries": 3, "parameters": {"error_status": 503}}
    r = httpx.post(f"{governed}/api/engine/chat/mock", json=failing, headers=bearer(key["key"]))
    assert r.status_code == 502
    slow = {"model": "echo", "chat_input": "hi", "timeout": 30, "parameters": {"first_token_s": 3}}
    r = httpx.post(f"{governed}/api/engine/chat/mock", json=slow, headers=bearer(key["key"]), timeout=10)
    assert r.status_code == 504 and r.json()["error"]["type"] == "upstream_timeout"
    unbounded = new_key(governed)
    retried = httpx.post(f"{governed}/api/engine/chat/mock", json=failing, headers=bearer(unbounded["key"]))
    rows = {row["virtual_key_id"]: row for row in logs(governed, status="error")}
    assert len(rows[key["id"]]["attempts"]) == 1 and len(rows[unbounded["id"]]["attempts"]) == 4, retried.text
