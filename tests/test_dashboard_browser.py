"""The dashboard in a real browser: Debian's Chromium, driven by Playwright.

Chromium comes from the system (`apt-get install chromium`, as .ci/run does); Playwright's
own browser download is never used.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest

from tests.emulators.base import DEFAULT_REPLY
from tests.emulators.openai import OpenAIEmulator

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = os.environ.get("LLMGATEWAY_SCREENSHOTS")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    yield page
    context.close()


def screenshot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)


def chart_data(page, container: str) -> dict:  # type: ignore[no-untyped-def]
    """What the chart in `container` draws: its labels and datasets, as Chart.js holds them."""
    return page.evaluate(
        "(selector) => { const c = Chart.getChart(document.querySelector(selector + ' canvas'));"
        " return { labels: c.data.labels, datasets: c.data.datasets.map((d) => ({ label: d.label, data: d.data })) }; }",
        container,
    )


def some_traffic(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as c:
        for prompt in ("Hello! Who are you?", "What is a gateway?", "Tell me a joke"):
            assert c.post("/api/engine/chat/openai", json={"model": "gpt-4o-mini", "chat_input": prompt}).status_code == 200
        c.post("/api/engine/chat/openai", json={"model": "gpt-4o", "chat_input": "hi", "parameters": {"temperature": 9}})


def test_pages_load_without_console_errors(page, gateway_url: str) -> None:  # type: ignore[no-untyped-def]
    some_traffic(gateway_url)
    page.goto(f"{gateway_url}/dashboard/#overview")
    page.wait_for_selector("#ov-cards .card")
    page.wait_for_selector("#ov-latency canvas")
    assert page.locator("#ov-cards .card").first.inner_text().split()[-1] == "4"
    requests = chart_data(page, "#ov-requests")
    assert [d["label"] for d in requests["datasets"]] == ["requests", "errors"]
    assert (sum(requests["datasets"][0]["data"]), sum(requests["datasets"][1]["data"])) == (4, 1)
    # every bucket carries its own time on the axis
    assert len(requests["labels"]) == len(requests["datasets"][0]["data"]) == len(set(requests["labels"]))
    assert "gpt-4o-mini" in chart_data(page, "#ov-latency")["labels"]
    screenshot(page, "dashboard-overview")
    for name in ("logs", "playground"):
        page.goto(f"{gateway_url}/dashboard/#{name}")
        page.wait_for_selector(f"#{name}:not([hidden])")
    assert page.console_errors == []


def test_logs_table_shows_real_records(page, gateway_url: str) -> None:  # type: ignore[no-untyped-def]
    some_traffic(gateway_url)
    page.goto(f"{gateway_url}/dashboard/#logs")
    page.wait_for_selector("#logs-table tbody tr")
    rows = page.locator("#logs-table tbody tr")
    assert rows.count() == 4
    assert "error" in rows.nth(0).inner_text()  # newest first: the refused one
    assert "Tell me a joke" in rows.nth(1).inner_text() and "openai/gpt-4o-mini" in rows.nth(1).inner_text()
    rows.nth(1).click()
    detail = page.locator("#log-detail-body")
    detail.wait_for()
    assert DEFAULT_REPLY in detail.inner_text() and '"metrics": {' in detail.inner_text()  # the reference's shape
    assert '"latency_s"' in detail.inner_text()
    screenshot(page, "dashboard-logs")
    assert page.console_errors == []


def test_playground_streams_in_with_metrics(page, gateway_url: str, openai_emulator: OpenAIEmulator) -> None:  # type: ignore[no-untyped-def]
    openai_emulator.chunk_delay_s = 0.08
    page.goto(f"{gateway_url}/dashboard/#playground")
    page.wait_for_selector("#pg-targets .target .params input")
    page.select_option("#pg-targets .target .model", "gpt-4o-mini")
    page.fill("#pg-prompt", "Hello! Who are you?")
    page.click("#pg-send")
    output = page.locator(".result .output").first
    output.wait_for()
    page.wait_for_function("document.querySelector('.result .output').textContent.length > 0")
    partial = output.inner_text()
    page.wait_for_function(f"document.querySelector('.result .output').textContent === {DEFAULT_REPLY!r}")
    assert 0 < len(partial) < len(DEFAULT_REPLY)  # seen while still arriving
    metrics = page.locator(".result .metrics").first
    page.wait_for_function("document.querySelector('.result .metrics').textContent.includes('tokens/s')")
    assert "first token" in metrics.inner_text() and "cost $" in metrics.inner_text()
    screenshot(page, "dashboard-playground")
    assert page.console_errors == []


def test_comparison_shows_two_models(page, gateway_url: str, anthropic_emulator) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{gateway_url}/dashboard/#playground")
    page.wait_for_selector("#pg-targets .target .params input")
    page.click("#pg-add")
    page.wait_for_function("document.querySelectorAll('#pg-targets .target').length === 2")
    second = page.locator("#pg-targets .target").nth(1)
    second.locator(".provider").select_option("anthropic")
    page.wait_for_function(
        "document.querySelectorAll('#pg-targets .target')[1].querySelector('.model').value.startsWith('claude')"
    )
    page.fill("#pg-prompt", "Compare yourselves")
    page.click("#pg-send")
    page.wait_for_function(
        "[...document.querySelectorAll('.result .metrics')].filter(m => m.textContent.includes('tokens/s')).length === 2"
    )
    results = page.locator(".result")
    assert results.count() == 2
    names = {results.nth(i).get_attribute("data-model").split("/")[0] for i in range(2)}
    assert names == {"openai", "anthropic"}
    assert all(results.nth(i).locator(".output").inner_text() == DEFAULT_REPLY for i in range(2))
    screenshot(page, "dashboard-compare")
    assert page.console_errors == []


def test_asks_for_the_key_when_access_control_is_on(page, gateway_factory: Callable[..., str]) -> None:  # type: ignore[no-untyped-def]
    url = gateway_factory(master_key="dash-key-42")
    page.goto(f"{url}/dashboard/#overview")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#login-key", "wrong")
    page.click("#login-form button")
    page.wait_for_function("document.querySelector('#login-error').textContent.includes('refused')")
    page.fill("#login-key", "dash-key-42")
    page.click("#login-form button")
    page.wait_for_selector("#overview:not([hidden]) #ov-cards .card")
    page.goto(f"{url}/dashboard/#logs")  # the key is kept for the session
    page.wait_for_selector("#logs:not([hidden])")
    assert page.locator("#login").is_hidden()
    assert [e for e in page.console_errors if "401" not in e] == []


def test_api_docs_render_with_the_network_cut_off(page, gateway_url: str) -> None:  # type: ignore[no-untyped-def]
    """Swagger UI comes from the gateway's own files: with every other host blocked, `/docs`
    still renders the API (an air-gapped machine sees the same page)."""
    elsewhere: list[str] = []

    def only_the_gateway(route):  # type: ignore[no-untyped-def]
        if route.request.url.startswith(gateway_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_gateway)
    page.goto(f"{gateway_url}/")  # `/` leads to the dashboard
    assert page.url == f"{gateway_url}/dashboard/"
    page.goto(f"{gateway_url}/docs")
    page.wait_for_selector(".swagger-ui .opblock-summary-path")
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("llmgateway")
    assert page.locator(".opblock-summary-path", has_text="/api/engine/chat/{provider}").count() == 1
    assert elsewhere == [] and page.console_errors == []


def test_overview_shows_the_cache_hit_rate_and_what_it_saved(  # type: ignore[no-untyped-def]
    page, gateway_factory: Callable[..., str], openai_emulator: OpenAIEmulator
) -> None:
    url = gateway_factory(cache="memory")
    with httpx.Client(base_url=url, timeout=30) as c:
        costs = [c.post("/api/engine/chat/openai", json={"model": "gpt-4o-mini", "chat_input": "same"}).json()["metrics"]
                 for _ in range(4)]  # fmt: skip
    saved = sum(m["cost_saved_usd"] for m in costs)
    assert [m["cache"] for m in costs] == ["miss", "hit", "hit", "hit"] and saved > 0
    page.goto(f"{url}/dashboard/#overview")
    page.wait_for_selector("#ov-cards .card")
    cards = {card.locator("span").inner_text(): card.locator("b").inner_text() for card in page.locator("#ov-cards .card").all()}
    assert cards["cache hit rate"] == "75.0%"
    assert cards["saved by the cache"] == f"${saved:.6f}"
    assert page.console_errors == []


def test_keys_page_gives_a_team_keys_limits_and_a_budget_and_charts_their_spend(  # type: ignore[no-untyped-def]
    page, gateway_factory: Callable[..., str], tmp_path: Path
) -> None:
    catalog = tmp_path / "priced.yaml"
    catalog.write_text("providers:\n  mock:\n    models:\n      priced: {context_window: 1000, input_cost_per_token: 0.0, "
                       "output_cost_per_token: 0.04}\n")  # fmt: skip
    url = gateway_factory(master_key="dash-key-42", catalog=catalog)
    page.goto(f"{url}/dashboard/#keys")
    page.fill("#login-key", "dash-key-42")
    page.click("#login-form button")
    page.wait_for_selector("#keys-on:not([hidden])")
    page.fill("#team-form [name=name]", "research")
    page.fill("#team-form [name=budget_usd]", "5")
    page.click("#team-form button")
    page.wait_for_selector("#teams-table tbody tr")
    page.fill("#key-form [name=name]", "alice")
    page.select_option("#key-team", label="research")
    page.fill("#key-form [name=models]", "mock/*")
    page.fill("#key-form [name=rpm]", "60")
    page.fill("#key-form [name=budget_usd]", "1")
    page.click("#key-form button")
    page.wait_for_selector("#new-key:not([hidden])")
    key = page.locator("#new-key code").inner_text()
    assert key.startswith("lgw-")
    spent = [httpx.post(f"{url}/api/engine/chat/mock", headers={"Authorization": f"Bearer {key}"},
                        json={"model": "priced", "chat_input": "hi", "parameters": {"max_tokens": 1}}).status_code
             for _ in range(3)]  # fmt: skip
    assert spent == [200, 200, 200]
    page.reload()
    page.wait_for_selector("#keys-table tbody tr")
    row = page.locator("#keys-table tbody tr")
    assert row.locator("td").nth(0).inner_text() == "alice" and row.locator("td").nth(2).inner_text() == "research"
    assert row.locator("td.budget").inner_text() == "$0.120000 of $1 / month"
    assert row.locator("td").nth(4).inner_text() == "rpm 60"
    assert page.locator("#teams-table td.budget").inner_text() == "$0.120000 of $5 / month"
    budgets = chart_data(page, "#keys-budgets")
    assert budgets["labels"] == ["team research", "alice"]
    assert budgets["datasets"][0]["data"] == pytest.approx([0.12, 0.12]) and budgets["datasets"][1]["data"] == [5, 1]
    page.wait_for_selector("#keys-spend canvas")
    per_key = chart_data(page, "#keys-spend")
    assert [d["label"] for d in per_key["datasets"]] == ["alice"] and sum(per_key["datasets"][0]["data"]) == pytest.approx(0.12)
    assert [d["label"] for d in chart_data(page, "#teams-spend")["datasets"]] == ["research"]
    screenshot(page, "dashboard-keys")
    page.click("#keys-table .revoke")
    page.wait_for_selector("#keys-table td.state-revoked")
    assert httpx.post(f"{url}/api/engine/chat/mock", headers={"Authorization": f"Bearer {key}"},
                      json={"model": "priced", "chat_input": "hi"}).status_code == 401  # fmt: skip
    assert [e for e in page.console_errors if "401" not in e] == []


def test_keys_page_says_what_keys_need_without_a_master_key(page, gateway_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{gateway_url}/dashboard/#keys")
    page.wait_for_selector("#keys-off:not([hidden])")
    assert "LLMGATEWAY_MASTER_KEY" in page.locator("#keys-off").inner_text()
    # the admin API's 400 `keys_off` is what the page reads; the browser logs the status itself
    assert [e for e in page.console_errors if "status of 400" not in e] == []
