"""The metric definitions, checked against a scripted clock, and pricing against a table."""

from __future__ import annotations

import pytest

from llmgateway.catalog import ModelSpec, load_catalog
from llmgateway.metrics.collector import MetricsCollector
from llmgateway.metrics.pricing import cost_usd
from llmgateway.metrics.report import build_metrics, inter_token_latency, tokens_per_second
from llmgateway.vocabulary.events import Finish, ResponseInfo, TextDelta, ToolCallDelta, Usage
from llmgateway.vocabulary.results import TokenCounts


class ScriptedClock:
    """Returns the given instants, one per read."""

    def __init__(self, *instants: float) -> None:
        self._instants = list(instants)

    def __call__(self) -> float:
        return self._instants.pop(0)


def test_timings_follow_their_definitions() -> None:
    # request at 10.0; role chunk 10.3; text 10.5, 10.6, 10.9; finish 11.0; usage 11.1
    clock = ScriptedClock(10.3, 10.5, 10.6, 10.9, 11.0, 11.1)
    collector = MetricsCollector(started_at=10.0, clock=clock)
    for event in (
        ResponseInfo(model="m"),
        TextDelta("a"),
        TextDelta("b"),
        ToolCallDelta(0, "id", "f", "{}"),
        Finish("stop"),
        Usage(5, 30),
    ):
        collector.observe(event)
    t = collector.finish()
    assert t.latency_s == pytest.approx(1.1)  # to the last upstream event
    assert t.time_to_first_token_s == pytest.approx(0.5)  # the role chunk is not output
    assert t.generation_s == pytest.approx(0.4)  # first output to last
    assert t.output_events == 3
    # 30 tokens over latency - ttft = 0.6 s of generation
    assert tokens_per_second(t, 30) == pytest.approx(50.0)
    # 30 tokens came between the first output and the last: 29 gaps in 0.4 s
    assert inter_token_latency(t, 30) == pytest.approx(0.4 / 29)


def test_one_chunk_answer_has_a_sensible_speed() -> None:
    # the whole answer in one chunk at 10.8, usage right after at 10.8001
    collector = MetricsCollector(started_at=10.0, clock=ScriptedClock(10.8, 10.8001))
    collector.observe(TextDelta("the whole answer"))
    collector.observe(Usage(5, 8))
    t = collector.finish()
    assert inter_token_latency(t, 8) == 0.0 and t.generation_s == 0.0
    # not 8 / 0.0001 = 80000 tok/s: over the whole latency instead
    assert tokens_per_second(t, 8) == pytest.approx(8 / 0.8001)


def test_call_without_output_has_no_time_to_first_token() -> None:
    collector = MetricsCollector(started_at=1.0, clock=ScriptedClock(1.2, 1.4))
    collector.observe(ResponseInfo())
    collector.observe(Finish("stop"))
    t = collector.finish()
    assert t.time_to_first_token_s is None
    assert t.latency_s == pytest.approx(0.4)
    assert tokens_per_second(t, 0) == 0.0


def test_hidden_reasoning_tokens_do_not_inflate_speed() -> None:
    """2,000 reasoning tokens before 100 visible ones streamed over 1 s: 100 tok/s, not 2,100."""
    clock = ScriptedClock(*(10.0 + 0.5 + i * 0.01 for i in range(101)), 11.51)
    collector = MetricsCollector(started_at=10.0, clock=clock)
    for _ in range(100):
        collector.observe(TextDelta("x"))
    collector.observe(Finish("stop"))
    collector.observe(Usage(10, 2_100, reasoning_tokens=2_000))
    metrics = build_metrics(collector.finish(), TokenCounts(10, 2_100, reasoning_tokens=2_000), 0.0)
    assert metrics["time_to_first_token_s"] == pytest.approx(0.5)
    assert metrics["tokens_per_second"] == pytest.approx(100 / 1.01)  # visible tokens over latency - ttft
    assert metrics["inter_token_latency_s"] == pytest.approx(0.99 / 99)  # between visible tokens
    assert metrics["output_tokens"] == 2_100 and metrics["reasoning_tokens"] == 2_000  # counts stay whole


def test_call_that_ends_before_any_event_ends_at_finish() -> None:
    t = MetricsCollector(started_at=5.0, clock=ScriptedClock(7.5)).finish()
    assert t.latency_s == pytest.approx(2.5)


GPT_4O_MINI = ModelSpec("gpt-4o-mini", input_cost_per_token=0.15e-6, cached_input_cost_per_token=0.075e-6, output_cost_per_token=0.6e-6)
O4_MINI = ModelSpec("o4-mini", input_cost_per_token=1.1e-6, cached_input_cost_per_token=0.275e-6, output_cost_per_token=4.4e-6)
NO_CACHE_PRICE = ModelSpec("old", input_cost_per_token=1e-6, output_cost_per_token=2e-6)


@pytest.mark.parametrize(
    ("model", "tokens", "expected"),
    [
        # plain: 1000 in, 500 out
        (GPT_4O_MINI, TokenCounts(1000, 500), 1000 * 0.15e-6 + 500 * 0.6e-6),
        # 800 of 1000 input tokens cached: those at the cached price
        (GPT_4O_MINI, TokenCounts(1000, 500, cached_tokens=800), 200 * 0.15e-6 + 800 * 0.075e-6 + 500 * 0.6e-6),
        # 300 reasoning tokens are inside the 500 output: billed once
        (O4_MINI, TokenCounts(1000, 500, reasoning_tokens=300), 1000 * 1.1e-6 + 500 * 4.4e-6),
        # cached and reasoning together
        (O4_MINI, TokenCounts(2000, 100, cached_tokens=1024, reasoning_tokens=64), 976 * 1.1e-6 + 1024 * 0.275e-6 + 100 * 4.4e-6),
        # no cached price in the catalog: cached input at the input price
        (NO_CACHE_PRICE, TokenCounts(100, 10, cached_tokens=50), 100 * 1e-6 + 10 * 2e-6),
        # a vendor reporting more cached than input cannot make the cost negative
        (GPT_4O_MINI, TokenCounts(10, 0, cached_tokens=50), 10 * 0.075e-6),
        (GPT_4O_MINI, TokenCounts(0, 0), 0.0),
    ],
)
def test_cost_table(model: ModelSpec, tokens: TokenCounts, expected: float) -> None:
    assert cost_usd(model, tokens) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_unknown_price_is_none_not_zero() -> None:
    assert cost_usd(None, TokenCounts(10, 10)) is None
    assert cost_usd(ModelSpec("free-text"), TokenCounts(10, 10)) is None


def test_dated_snapshot_takes_its_models_price() -> None:
    openai = load_catalog().provider("openai")
    assert openai is not None
    assert openai.model("gpt-4o-mini-2024-07-18") == openai.model("gpt-4o-mini")
    assert openai.model("gpt-4o-mini-20240718") == openai.model("gpt-4o-mini")
    assert openai.model("gpt-4o-mini-turbo") is None


def test_metrics_object_says_when_counts_are_estimated_and_price_unknown() -> None:
    t = MetricsCollector(started_at=0.0, clock=ScriptedClock(1.0, 2.0)).finish()
    m = build_metrics(t, TokenCounts(3, 4, estimated=True), None)
    assert m["tokens_estimated"] is True and m["price_known"] is False and m["cost_usd"] is None
    assert m["total_tokens"] == 7


def test_user_catalog_overrides_a_price_and_adds_a_model(tmp_path) -> None:
    user = tmp_path / "catalog.yaml"
    user.write_text(
        "providers:\n"
        "  openai:\n"
        "    models:\n"
        "      gpt-4o-mini: {input_cost_per_token: 1.0e-06}\n"
        "      my-finetune: {input_cost_per_token: 2.0e-06, output_cost_per_token: 3.0e-06}\n"
    )
    openai = load_catalog(user).provider("openai")
    assert openai is not None
    mini = openai.model("gpt-4o-mini")
    assert mini is not None and mini.input_cost_per_token == 1.0e-06
    assert mini.output_cost_per_token == 6.0e-07  # untouched keys kept
    assert openai.model("my-finetune") is not None
    assert openai.model("gpt-4o") is not None  # the rest of the built-in catalog kept
