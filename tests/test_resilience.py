"""Faults upstream, fallbacks, balancing, timeouts, access control and hostile input.

Each fault test asserts what the client gets and what the request log says.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Callable

import httpx
import pytest

from llmgateway.core.attempts import RetryPolicy
from llmgateway.core.cooldown import Cooldowns
from llmgateway.errors import UpstreamError
from tests.conftest import SSE
from tests.emulators.base import DEFAULT_REPLY, VALID_KEY, Fault
from tests.emulators.faulty import faulty_upstream
from tests.emulators.openai import OpenAIEmulator

CHAT = "/api/engine/chat/openai"


def last_record(client: httpx.Client) -> dict:
    rows = client.get("/api/tracking/logs", params={"limit": 1}).json()
    assert rows, "no record"
    return rows[0]


# -- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "status", "error_type"),
    [
        ("reset", 502, "upstream_unavailable"),
        ("garbage", 502, "upstream_unavailable"),
        ("bad_json", 502, "upstream_unavailable"),
        ("silent", 504, "upstream_timeout"),
        ("full", 504, "upstream_timeout"),  # connect timeout
    ],
)
def test_broken_upstreams(
    gateway_factory: Callable[..., str], monkeypatch: pytest.MonkeyPatch, mode: str, status: int, error_type: str
) -> None:
    with faulty_upstream(mode) as (base_url, _):
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        url = gateway_factory(request_timeout_s=1.0, connect_timeout_s=0.5)
        with httpx.Client(base_url=url, timeout=30) as c:
            r = c.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi"})
            assert r.status_code == status, r.text
            assert r.json()["error"]["type"] == error_type
            record = last_record(c)
    assert record["status"] == "error" and record["http_status"] == status and record["error_type"] == error_type


def test_slow_drip_is_cut_at_the_total_timeout(gateway_factory: Callable[..., str], monkeypatch) -> None:
    with faulty_upstream("drip", drip_s=0.1) as (base_url, _):
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        url = gateway_factory(request_timeout_s=1.0)
        with httpx.Client(base_url=url, timeout=30) as c:
            started = time.monotonic()
            with c.stream("POST", CHAT, headers=SSE, json={"model": "gpt-4o-mini", "chat_input": "hi", "is_stream": True}) as r:
                body = r.read().decode()
            elapsed = time.monotonic() - started
            assert r.status_code == 200 and 0.9 < elapsed < 3
            assert "drip0" in body and body.rstrip().split("\n\n")[-1].startswith("event: error")
            assert '"upstream_timeout"' in body.rstrip().split("\n\n")[-1]
            record = last_record(c)
    assert record["status"] == "error" and record["error_type"] == "upstream_timeout"
    assert record["chat_output"].startswith("drip0 drip1")  # the partial output is kept


def test_429_and_503_are_retried_with_backoff(client: httpx.Client, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.extend([Fault("status", status=429, headers={"retry-after": "0"}), Fault("status", status=503)])
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi", "retries": 2})
    assert r.status_code == 200 and r.json()["chat_output"] == DEFAULT_REPLY
    assert [a["status_code"] for a in r.json()["attempts"]] == [429, 502]
    record = last_record(client)
    assert record["status"] == "success" and len(record["attempts"]) == 2


def test_overloaded_mid_stream_after_the_first_byte_is_an_error_event(
    client: httpx.Client, openai_emulator: OpenAIEmulator
) -> None:
    openai_emulator.faults.append(Fault("midstream_error", after_chunks=2, message="overloaded"))
    with client.stream("POST", CHAT, headers=SSE, json={"model": "gpt-4o-mini", "chat_input": "hi", "is_stream": True, "retries": 3}) as r:
        body = r.read().decode()
    assert body.rstrip().split("\n\n")[-1].startswith("event: error")
    assert len(openai_emulator.requests) == 1  # text had reached the client: no retry
    assert last_record(client)["status"] == "error"


# -- fallbacks, routes, cooldowns ------------------------------------------------------------------


def test_fallback_serves_when_the_primary_fails(client: httpx.Client, openai_emulator, anthropic_emulator) -> None:
    openai_emulator.faults.append(Fault("status", status=503, message="down"))
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi", "fallbacks": ["anthropic/claude-haiku-4-5"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["provider"] == "anthropic" and body["chat_output"] == DEFAULT_REPLY
    assert body["attempts"] == [{"provider": "openai", "model": "gpt-4o-mini", "status_code": 502,
                                 "error": "upstream returned 503: down"}]  # fmt: skip
    record = last_record(client)
    assert record["provider"] == "anthropic" and record["attempts"][0]["provider"] == "openai"


def test_no_fallback_on_a_client_error(client: httpx.Client, openai_emulator, anthropic_emulator) -> None:
    openai_emulator.faults.append(Fault("status", status=400, message="bad request"))
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi", "fallbacks": ["anthropic/claude-haiku-4-5"]})
    assert r.status_code == 400 and anthropic_emulator.requests == []


def test_unknown_fallback_is_a_422(client: httpx.Client) -> None:
    r = client.post(CHAT, json={"model": "gpt-4o-mini", "chat_input": "hi", "fallbacks": ["nowhere/nothing"]})
    assert r.status_code == 422 and "fallbacks" in r.json()["error"]["message"]


def test_first_token_timeout_moves_on_to_the_fallback(
    gateway_factory: Callable[..., str], openai_emulator: OpenAIEmulator, anthropic_emulator
) -> None:
    openai_emulator.faults.append(Fault("hang", seconds=5))
    url = gateway_factory()
    r = httpx.post(f"{url}{CHAT}", timeout=30, json={
        "model": "gpt-4o-mini", "chat_input": "hi", "first_token_timeout": 0.5, "fallbacks": ["anthropic/claude-haiku-4-5"]})  # fmt: skip
    # without the first-token timeout OpenAI would have answered, after its 5 s of silence
    assert r.status_code == 200 and r.json()["provider"] == "anthropic"
    assert r.json()["attempts"][0]["status_code"] == 504


def test_route_balances_by_weight_over_keys_and_deployments(
    gateway_factory: Callable[..., str], tmp_path: Path, openai_emulator: OpenAIEmulator, monkeypatch
) -> None:
    monkeypatch.setenv("OPENAI_KEY_B", VALID_KEY)  # a second key of the same account
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "routes:\n  balanced:\n    targets:\n"
        "      - {model: openai/gpt-4o-mini, weight: 4}\n"
        "      - {model: openai/gpt-4o, weight: 1, api_key_env: OPENAI_KEY_B}\n"
    )
    url = gateway_factory(catalog=catalog)
    body = {"model": "balanced", "messages": [{"role": "user", "content": "hi"}]}
    random.seed(20261130)  # the gateway runs in this process: its draws are the same on every run
    with httpx.Client(base_url=url + "/v1", timeout=30) as c:
        assert all(c.post("/chat/completions", json=body).status_code == 200 for _ in range(200))
    models = [r["model"] for r in openai_emulator.requests]
    heavy, light = models.count("gpt-4o-mini"), models.count("gpt-4o")
    # 4:1 expected: heavy ~ Binomial(200, 0.8), mean 160, sd 5.7. The bounds below are 4.7 sd
    # from the mean (p < 2e-6 each, for any seed); the seed makes the run repeatable besides.
    assert heavy + light == 200 and 133 < heavy < 187


def test_route_skips_a_cooling_deployment(
    gateway_factory: Callable[..., str], tmp_path: Path, openai_emulator: OpenAIEmulator, monkeypatch
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "routes:\n  pair:\n    targets:\n"
        "      - {model: openai/gpt-4o-mini, weight: 1}\n"
        "      - {model: openai/gpt-4o, weight: 1}\n"
    )
    url = gateway_factory(catalog=catalog, cooldown_failures=1, cooldown_s=60)
    body = {"model": "pair", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=url + "/v1", timeout=30) as c:
        openai_emulator.faults.append(Fault("status", status=503))
        first = c.post("/chat/completions", json=body)
        assert first.status_code == 200  # the other deployment served
        failed_model = first.json()["attempts"][0]["model"]
        openai_emulator.requests.clear()
        for _ in range(8):
            assert c.post("/chat/completions", json=body).status_code == 200
    assert all(r["model"] != failed_model for r in openai_emulator.requests)  # cooled down: left out


def test_a_route_is_reachable_from_both_apis(
    gateway_factory: Callable[..., str], tmp_path: Path, openai_emulator: OpenAIEmulator
) -> None:
    """One routing for /v1 (the route as `model`) and the engine API (the route where the
    provider goes); a name that is nothing is a 404 on /v1, recorded."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("routes:\n  only-4o:\n    targets:\n      - {model: openai/gpt-4o, weight: 1}\n")
    url = gateway_factory(catalog=catalog)
    engine = httpx.post(f"{url}/api/engine/chat/only-4o", json={"model": "only-4o", "chat_input": "hi"})
    v1 = httpx.post(f"{url}/v1/chat/completions", json={"model": "only-4o", "messages": [{"role": "user", "content": "hi"}]})
    assert (engine.status_code, v1.status_code) == (200, 200)
    assert [body["model"] for body in openai_emulator.requests] == ["gpt-4o", "gpt-4o"]
    assert engine.json()["provider"] == "openai"
    missing = httpx.post(f"{url}/v1/chat/completions", json={"model": "nothing", "messages": [{"role": "user", "content": "hi"}]})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "model_not_found"
    deadline = time.monotonic() + 5
    while len(logs := httpx.get(f"{url}/api/tracking/logs").json()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted((row["model_requested"], row["status"]) for row in logs) == [
        ("gpt-4o", "success"), ("gpt-4o", "success"), ("nothing", "error")]


def test_retry_after_sets_the_backoff_up_to_the_cap() -> None:
    policy = RetryPolicy(backoff_base_s=0.5, backoff_max_s=8.0)

    def error(retry_after: str | None) -> UpstreamError:
        headers = {"Retry-After": retry_after} if retry_after is not None else None
        return UpstreamError("rate limited", status_code=429, retryable=True, headers=headers)

    assert policy.delay(1, error("3")) == 3.0
    assert policy.delay(1, error("0.25")) == 0.25
    assert policy.delay(1, error("30")) == 8.0  # capped
    assert policy.delay(1, error("-5")) == 0.0
    # without it (or unreadable: an HTTP date): full jitter under base * 2^(attempt-1), capped
    assert all(0.0 <= policy.delay(3, error(None)) <= 2.0 for _ in range(50))
    assert all(0.0 <= policy.delay(3, error("Wed, 21 Oct 2015 07:28:00 GMT")) <= 2.0 for _ in range(50))
    assert all(0.0 <= policy.delay(9, error(None)) <= 8.0 for _ in range(50))


def test_a_deployment_cools_down_for_its_time_then_returns() -> None:
    now = [100.0]
    cooldowns = Cooldowns(failures=2, cooldown_s=30.0, clock=lambda: now[0])
    cooldowns.failed("d")
    assert cooldowns.available("d")  # one failure is not enough
    cooldowns.failed("d")
    assert not cooldowns.available("d") and cooldowns.cooling() == 1
    now[0] = 129.9
    assert not cooldowns.available("d")
    now[0] = 130.0
    assert cooldowns.available("d") and cooldowns.cooling() == 0
    cooldowns.failed("d")
    cooldowns.succeeded("d")  # a success clears the count
    cooldowns.failed("d")
    assert cooldowns.available("d")


def test_the_fleets_state_replaces_the_local_one() -> None:
    """What the shared store says (Redis, for every instance) is the state: it opens, counts
    and closes a breaker whatever this process had counted, and its cooling time runs here."""
    now = [0.0]
    sent: list[tuple[str, str]] = []

    class Store:
        def failed(self, deployment: str) -> None:
            sent.append(("failed", deployment))

        def succeeded(self, deployment: str) -> None:
            sent.append(("succeeded", deployment))

    cooldowns = Cooldowns(failures=3, cooldown_s=30.0, clock=lambda: now[0], shared=Store())
    cooldowns.mirror("d", 0, 12.5)  # another instance opened it
    assert not cooldowns.available("d")
    now[0] = 12.5
    assert cooldowns.available("d")
    cooldowns.mirror("d", 2, 0.0)  # two failures elsewhere: one more here opens it
    cooldowns.failed("d")
    assert not cooldowns.available("d") and sent == [("failed", "d")]
    cooldowns.mirror("d", 0, 0.0)  # closed by a success elsewhere
    assert cooldowns.available("d") and cooldowns.tracked() == 0
    cooldowns.succeeded("d")  # nothing known here: the store is not written
    assert sent == [("failed", "d")]
    cooldowns.failed("e")
    cooldowns.succeeded("e")
    assert sent[-1] == ("succeeded", "e")


def test_a_routes_own_fallbacks_serve_when_its_deployments_fail(
    gateway_factory: Callable[..., str], tmp_path: Path, openai_emulator: OpenAIEmulator
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("routes:\n  solo:\n    targets:\n      - {model: openai/gpt-4o, weight: 1}\n"
                       "    fallbacks: [openai/gpt-4o-mini]\n")  # fmt: skip
    url = gateway_factory(catalog=catalog)
    openai_emulator.faults.append(Fault("status", status=500))
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "solo", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    assert [body["model"] for body in openai_emulator.requests] == ["gpt-4o", "gpt-4o-mini"]
    assert r.json()["model"] == "gpt-4o-mini-2024-07-18"


@pytest.mark.parametrize(("default_retries", "statuses"), [(0, [502]), (1, [200])])
def test_the_default_retries_apply_to_a_request_that_names_none(
    gateway_factory: Callable[..., str], openai_emulator: OpenAIEmulator, default_retries: int, statuses: list[int]
) -> None:
    url = gateway_factory(default_retries=default_retries, retry_backoff_base_s=0.01)
    openai_emulator.faults.append(Fault("status", status=503))
    r = httpx.post(f"{url}{CHAT}", json={"model": "gpt-4o-mini", "chat_input": "hi"})
    assert [r.status_code] == statuses
    assert len(openai_emulator.requests) == 1 + default_retries


@pytest.mark.parametrize(("status", "retried"), [(408, True), (409, True), (429, True), (500, True), (503, True),
                                               (400, False), (401, False), (404, False), (422, False)])  # fmt: skip
def test_which_vendor_statuses_are_retried(
    gateway_factory: Callable[..., str], openai_emulator: OpenAIEmulator, status: int, retried: bool
) -> None:
    url = gateway_factory(retry_backoff_base_s=0.01)
    openai_emulator.faults.append(Fault("status", status=status))
    r = httpx.post(f"{url}{CHAT}", json={"model": "gpt-4o-mini", "chat_input": "hi", "retries": 1})
    assert len(openai_emulator.requests) == (2 if retried else 1)
    assert r.status_code == 200 if retried else r.status_code == status


def test_the_first_token_timeout_setting_applies_to_every_request(
    gateway_factory: Callable[..., str], openai_emulator: OpenAIEmulator, anthropic_emulator
) -> None:
    url = gateway_factory(first_token_timeout_s=0.5)
    openai_emulator.faults.append(Fault("hang", seconds=5))
    r = httpx.post(f"{url}{CHAT}", json={"model": "gpt-4o-mini", "chat_input": "hi", "fallbacks": ["anthropic/claude-haiku-4-5"]},
                   timeout=30)  # fmt: skip
    assert r.status_code == 200 and r.json()["provider"] == "anthropic"
    assert r.json()["attempts"] == [{"provider": "openai", "model": "gpt-4o-mini", "status_code": 504,
                                     "error": "the upstream sent no output within the first-token timeout"}]  # fmt: skip


# -- access ------------------------------------------------------------------------------------


def test_master_key(gateway_factory: Callable[..., str]) -> None:
    url = gateway_factory(master_key="gw-master-key-123")
    assert httpx.get(f"{url}/health").status_code == 200
    assert httpx.get(f"{url}/metrics").status_code == 401
    assert httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer gw-master-key-123"}).status_code == 200
    r = httpx.post(f"{url}{CHAT}", json={"model": "gpt-4o-mini", "chat_input": "hi"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"
    wrong = httpx.get(f"{url}/api/engine/providers", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = httpx.post(f"{url}{CHAT}", json={"model": "gpt-4o-mini", "chat_input": "hi"},
                    headers={"Authorization": "Bearer gw-master-key-123"})  # fmt: skip
    assert ok.status_code == 200
    import openai

    sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="gw-master-key-123", max_retries=0)
    assert sdk.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hi"}]).choices
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0).models.list()


def test_client_keys_can_be_refused(gateway_factory: Callable[..., str]) -> None:
    url = gateway_factory(allow_client_keys=False)
    r = httpx.post(f"{url}{CHAT}", json={"model": "gpt-4o-mini", "chat_input": "hi", "api_key": VALID_KEY})
    assert r.status_code == 403 and r.json()["error"]["type"] == "client_keys_not_allowed"
    assert httpx.post(f"{url}{CHAT}", json={"model": "gpt-4o-mini", "chat_input": "hi"}).status_code == 200


def test_cors_is_off_by_default_and_configurable(gateway_factory: Callable[..., str]) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    closed = gateway_factory()
    assert "access-control-allow-origin" not in httpx.options(f"{closed}{CHAT}", headers=preflight).headers
    open_ = gateway_factory(cors_origins=["https://app.example"])
    r = httpx.options(f"{open_}{CHAT}", headers=preflight)
    assert r.headers["access-control-allow-origin"] == "https://app.example"


# -- hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "setting"),
    [
        ({"chat_input": [{"role": "user", "content": "x"}] * 6}, "LLMGATEWAY_MAX_MESSAGES"),
        ({"chat_input": "x" * 101}, "LLMGATEWAY_MAX_MESSAGE_CHARS"),
        ({"chat_input": "hi", "tools": [{"type": "function", "function": {"name": f"f{i}"}} for i in range(4)]},
         "LLMGATEWAY_MAX_TOOLS"),
        ({"chat_input": "hi", "parameters": {"x": [[[[[[[[1]]]]]]]]}}, "LLMGATEWAY_MAX_JSON_DEPTH"),
    ],
)  # fmt: skip
def test_request_bounds_are_422_naming_the_limit(gateway_factory: Callable[..., str], body: dict, setting: str) -> None:
    url = gateway_factory(max_messages=5, max_message_chars=100, max_tools=3, max_json_depth=5)
    r = httpx.post(f"{url}{CHAT}", json={"model": "gpt-4o-mini", **body})
    assert r.status_code == 422 and setting in r.json()["error"]["message"]


def test_json_nested_past_the_parser_is_a_400(client: httpx.Client) -> None:
    deep = '{"model": "m", "chat_input": "hi", "parameters": {"x": ' + "[" * 50_000 + "]" * 50_000 + "}}"
    r = client.post(CHAT, content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_json"
