"""The pure parts of a request's path, at their edges: parameter checks, request bounds, each
provider's configuration, and the message helpers every adapter shares. Fast and exact, so
that mutation testing (README: Tests) can tell which of their lines a test would miss."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import AsyncIterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr, TypeAdapter, ValidationError

from llmgateway.catalog import ModelSpec, load_catalog
from llmgateway.core.attempts import AttemptBudget, RetryPolicy, attempt_span, unexpected_failure
from llmgateway.core.cooldown import Cooldowns, deployment_of
from llmgateway.core.limits import check_request_limits
from llmgateway.core.parameters import validate_parameters
from llmgateway.core.provider_setup import ProviderSetup
from llmgateway.core.secrets import SecretScrubber
from llmgateway.core.upstream_watch import UpstreamWatch
from llmgateway.errors import (
    BadRequestError,
    InternalError,
    MissingCredentialsError,
    ProviderNotConfiguredError,
    UpstreamError,
    ValidationFailedError,
)
from llmgateway.metrics.collector import MetricsCollector, Timings
from llmgateway.metrics.pricing import cost_usd
from llmgateway.metrics.report import build_metrics, inter_token_latency, openai_usage, tokens_per_second
from llmgateway.metrics.tokens import count_message_tokens, encoding
from llmgateway.providers.messages import (
    Image,
    content_parts,
    json_schema_of,
    merged_turns,
    parse_image,
    split_system,
    text_of,
    tool_arguments,
    tool_choice_mode,
)
from llmgateway.vocabulary.events import TextDelta
from llmgateway.vocabulary.requests import ChatRequest
from llmgateway.vocabulary.results import TokenCounts
from tests.conftest import make_settings

CATALOG = load_catalog()
OPENAI = CATALOG.provider("openai")


# -- parameters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "checked"),
    [
        ({"temperature": 0.0}, {"temperature": 0.0}),
        ({"temperature": 2.0}, {"temperature": 2.0}),
        ({"max_tokens": 1}, {"max_tokens": 1}),
        ({"max_tokens": 5.0}, {"max_tokens": 5}),  # a whole float becomes an int
        ({"frequency_penalty": -2.0}, {"frequency_penalty": -2.0}),
        ({"stop": "END"}, {"stop": "END"}),
        ({"stop": ["a", "b", "c", "d"]}, {"stop": ["a", "b", "c", "d"]}),
        ({"seed": -7}, {"seed": -7}),  # no bounds in the catalog
        ({"temperature": None, "top_p": 0.5}, {"top_p": 0.5}),  # None is left out
        ({"logit_bias": {"50256": -100}}, {"logit_bias": {"50256": -100}}),  # unknown: passed on as is
    ],
)
def test_parameters_the_catalog_accepts(parameters: dict, checked: dict) -> None:
    result = validate_parameters(OPENAI, "gpt-4o-mini", parameters)
    assert result == checked
    assert all(type(result[k]) is type(checked[k]) for k in checked)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"temperature": 2.01}, "parameters.temperature: must be at most 2.0, got 2.01"),
        ({"temperature": -0.01}, "parameters.temperature: must be at least 0.0, got -0.01"),
        ({"max_tokens": 0}, "parameters.max_tokens: must be at least 1, got 0"),
        ({"max_tokens": 1.5}, "parameters.max_tokens: must be a whole number"),
        ({"temperature": True}, "parameters.temperature: must be a number"),
        ({"temperature": "0.5"}, "parameters.temperature: must be a number"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "parameters.stop: at most 4 stop sequences, got 5"),
        ({"stop": ["a", 1]}, "parameters.stop: must be a string or a list of strings"),
        ({"stream": True}, "parameters.stream: set by the gateway, not a sampling parameter"),
        ({"messages": []}, "parameters.messages: set by the gateway, not a sampling parameter"),
        ({"api_key": "x"}, "parameters.api_key: credentials are not parameters; the key goes in 'api_key'"),
        ({"X-Api-Key": "x"}, "parameters.X-Api-Key: credentials are not parameters; the key goes in 'api_key'"),
        ({"aws_secret_access_key": "x"},
         "parameters.aws_secret_access_key: credentials are not parameters; the key goes in 'api_key'"),
    ],
)  # fmt: skip
def test_parameters_the_catalog_refuses(parameters: dict, message: str) -> None:
    with pytest.raises(ValidationFailedError) as refused:
        validate_parameters(OPENAI, "gpt-4o-mini", parameters)
    assert refused.value.message == message


def test_a_model_refuses_what_it_does_not_support() -> None:
    with pytest.raises(ValidationFailedError) as refused:
        validate_parameters(OPENAI, "gpt-5", {"temperature": 1.0})
    assert refused.value.message == "parameters.temperature: model 'gpt-5' does not accept this parameter"
    assert validate_parameters(OPENAI, "gpt-5", {"max_tokens": 10}) == {"max_tokens": 10}
    assert validate_parameters(OPENAI, "gpt-5", None) == {} and validate_parameters(OPENAI, "gpt-5", {}) == {}


# -- request bounds -----------------------------------------------------------------------------


def _limits(tmp_path: Path, **overrides: int):
    return make_settings(tmp_path, **{"max_messages": 3, "max_message_chars": 10, "max_tools": 2, "max_json_depth": 3,
                                      **overrides})  # fmt: skip


def test_request_bounds_hold_at_their_limit_and_refuse_past_it(tmp_path: Path) -> None:
    settings = _limits(tmp_path)
    at_limit = [{"role": "user", "content": "x" * 10}] * 3
    check_request_limits(settings, at_limit, {"a": {"b": 1}}, [{}, {}], None)
    cases = [
        ([{"role": "user", "content": "x"}] * 4, None, None,
         "chat_input: 4 messages, more than the limit of 3 (LLMGATEWAY_MAX_MESSAGES)"),
        ([{"role": "user", "content": "x" * 11}], None, None,
         "chat_input[0]: 11 characters, more than the limit of 10 (LLMGATEWAY_MAX_MESSAGE_CHARS)"),
        ([{"role": "user", "content": [{"type": "text", "text": "x" * 6}, {"type": "text", "text": "y" * 5}]}], None, None,
         "chat_input[0]: 11 characters, more than the limit of 10 (LLMGATEWAY_MAX_MESSAGE_CHARS)"),
        ([{"role": "user", "content": "x"}], None, [{}, {}, {}],
         "tools: 3 tools, more than the limit of 2 (LLMGATEWAY_MAX_TOOLS)"),
    ]  # fmt: skip
    for messages, parameters, tools, message in cases:
        with pytest.raises(ValidationFailedError) as refused:
            check_request_limits(settings, messages, parameters, tools, None)
        assert refused.value.message == message
    with pytest.raises(ValidationFailedError) as deep:
        check_request_limits(settings, [{"role": "user", "content": "x"}], {"a": {"b": {"c": {"d": 1}}}}, None, None)
    assert deep.value.message.startswith("parameters: ")


# -- a provider's configuration -------------------------------------------------------------


def test_a_providers_key_endpoint_and_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    azure = CATALOG.provider("azure")
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    bare = ProviderSetup.resolve(azure, settings)
    assert bare.missing() == ["AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"]
    with pytest.raises(MissingCredentialsError):
        bare.api_key()
    with pytest.raises(ProviderNotConfiguredError):
        bare.base_url()
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k-123")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    ready = ProviderSetup.resolve(azure, settings)
    assert ready.missing() == []
    assert ready.api_key().get_secret_value() == "k-123"
    assert ready.base_url() == "https://example.openai.azure.com"
    options = ready.vendor_options("any-deployment")
    assert options["api_version"] == "2025-04-01-preview"
    options["api_version"] = "changed"  # each call gets its own copy
    assert ready.vendor_options("any-deployment")["api_version"] == "2025-04-01-preview"


AWS_CHAIN = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
             "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")  # fmt: skip


def test_bedrock_is_ready_only_when_its_credential_chain_has_a_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in AWS_CHAIN:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.aws
    bedrock = CATALOG.provider("bedrock")
    settings = make_settings(tmp_path)
    missing = ProviderSetup.resolve(bedrock, settings).missing()
    assert missing == ["AWS credentials (e.g. AWS_ACCESS_KEY_ID or ~/.aws/credentials)"]
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[default]\naws_access_key_id = AKIDEXAMPLE\n")
    assert ProviderSetup.resolve(bedrock, settings).missing() == []
    (tmp_path / ".aws" / "credentials").unlink()
    monkeypatch.setenv("AWS_PROFILE", "team")
    assert ProviderSetup.resolve(bedrock, settings).missing() == []


def test_vertex_is_ready_only_with_application_default_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p-1")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    vertex = CATALOG.provider("vertexai")
    settings = make_settings(tmp_path)
    assert ProviderSetup.resolve(vertex, settings).missing() == [
        "Google application-default credentials (e.g. GOOGLE_APPLICATION_CREDENTIALS"
        " or ~/.config/gcloud/application_default_credentials.json)"
    ]
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "sa.json"))
    assert ProviderSetup.resolve(vertex, settings).missing() == []


def test_a_required_option_left_unset_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    vertex = ProviderSetup.resolve(CATALOG.provider("vertexai"), make_settings(tmp_path))
    with pytest.raises(ProviderNotConfiguredError) as refused:
        vertex.vendor_options("gemini-2.5-pro")
    assert "GOOGLE_CLOUD_PROJECT" in refused.value.message
    assert "GOOGLE_CLOUD_PROJECT" in vertex.missing()


def test_a_provider_without_an_endpoint_of_its_own_uses_the_catalogs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    assert ProviderSetup.resolve(OPENAI, make_settings(tmp_path)).base_url() == "https://api.openai.com/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    assert ProviderSetup.resolve(OPENAI, make_settings(tmp_path)).base_url() == "http://127.0.0.1:1/v1"


# -- the message helpers ------------------------------------------------------------------------


def test_images_from_data_urls_and_links() -> None:
    assert parse_image("data:image/png;base64,iVBORw0KGgo=") == Image(media_type="image/png", data="iVBORw0KGgo=")
    assert parse_image("https://example.com/a.png") == Image(url="https://example.com/a.png")
    assert parse_image("http://example.com/a.png") == Image(url="http://example.com/a.png")
    for bad, message in [("data:image/png;base64,@@@", "image_url: the data URL does not hold valid base64"),
                         ("ftp://example.com/a.png", "image_url: expected an http(s) URL or a base64 data URL"),
                         ("", "image_url: expected an http(s) URL or a base64 data URL")]:  # fmt: skip
        with pytest.raises(BadRequestError) as refused:
            parse_image(bad)
        assert refused.value.message == message
    assert Image(media_type="image/png", data="aGk=").raw_bytes() == b"hi"


def test_system_prompts_are_split_off_and_turns_merged() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "developer", "content": "and kind"},
        {"role": "user", "content": "a"},
        {"role": "tool", "content": "r", "tool_call_id": "c"},
        {"role": "assistant", "content": "b"},
        {"role": "assistant", "content": "c"},
    ]
    system, rest = split_system(messages)
    assert system == "be brief\n\nand kind" and [m["role"] for m in rest] == ["user", "tool", "assistant", "assistant"]
    assert split_system([{"role": "user", "content": "x"}]) == (None, [{"role": "user", "content": "x"}])
    turns = merged_turns(rest, lambda m: [m["content"]], assistant="model")
    assert turns == [("user", ["a", "r"]), ("model", ["b", "c"])]


def test_structured_output_tool_choice_and_arguments() -> None:
    assert json_schema_of(None) is None and json_schema_of({"type": "text"}) is None and json_schema_of({}) is None
    assert json_schema_of({"type": "json_object"}) == ("json_object", None)
    assert json_schema_of({"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}) == (
        "json_schema", {"type": "object"})
    assert json_schema_of({"type": "json_schema"}) == ("json_schema", {})
    with pytest.raises(BadRequestError):
        json_schema_of({"type": "yaml"})
    assert tool_choice_mode(None) == (None, None)
    assert tool_choice_mode("required") == ("required", None)
    assert tool_choice_mode({"type": "function", "function": {"name": "f"}}) == ("function", "f")
    assert tool_arguments({"function": {"arguments": '{"a": 1}'}}) == {"a": 1}
    assert tool_arguments({"function": {"arguments": ""}}) == {} and tool_arguments({}) == {}
    for bad in ("[1]", "{nope"):
        with pytest.raises(BadRequestError) as refused:
            tool_arguments({"function": {"arguments": bad}})
        assert refused.value.message == "tool_calls: function.arguments must be a JSON object"


# -- metrics at their edges ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timings", "visible", "speed", "gap"),
    [
        (Timings(2.0, 1.0, 0.8, 5), 9, 9.0, 0.1),  # 9 tokens over the 1 s after the first
        (Timings(2.0, 1.0, 0.8, 2), 9, 9.0, 0.1),  # two events are a window
        (Timings(2.0, 1.0, 0.0, 1), 9, 4.5, 0.0),  # one event: over the whole latency, no gap
        (Timings(2.0, 2.0, 0.0, 2), 9, 4.5, 0.0),  # a window of zero: over the latency
        (Timings(2.0, 1.0, 0.8, 5), 1, 1.0, 0.0),  # one token has no gap between tokens
        (Timings(2.0, 1.0, 0.8, 5), 2, 2.0, 0.8),
        (Timings(2.0, 1.0, 0.8, 5), 0, 0.0, 0.0),
        (Timings(0.0, None, 0.0, 0), 3, 0.0, 0.0),  # no time at all: no speed
        (Timings(2.0, None, 0.0, 0), 3, 1.5, 0.0),
    ],
)
def test_speed_and_gap_at_their_edges(timings: Timings, visible: int, speed: float, gap: float) -> None:
    assert tokens_per_second(timings, visible) == pytest.approx(speed)
    assert inter_token_latency(timings, visible) == pytest.approx(gap)


def test_the_metrics_object_and_openais_usage() -> None:
    tokens = TokenCounts(100, 50, cached_tokens=20, reasoning_tokens=30, cache_write_tokens=5, estimated=True)
    metrics = build_metrics(Timings(3.0, 1.0, 1.9, 20), tokens, 0.25)
    assert metrics == {
        "input_tokens": 100, "output_tokens": 50, "total_tokens": 150, "cached_tokens": 20, "reasoning_tokens": 30,
        "cache_write_tokens": 5, "cost_usd": 0.25, "latency_s": 3.0, "time_to_first_token_s": 1.0,
        "inter_token_latency_s": pytest.approx(0.1), "tokens_per_second": pytest.approx(10.0),  # 20 visible tokens
        "tokens_estimated": True, "price_known": True,
    }  # fmt: skip
    assert build_metrics(Timings(3.0, 1.0, 1.9, 20), tokens, None)["price_known"] is False
    assert openai_usage(tokens) == {
        "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 20}, "completion_tokens_details": {"reasoning_tokens": 30},
    }  # fmt: skip


PRICED = ModelSpec(name="m", input_cost_per_token=1e-6, output_cost_per_token=4e-6, cached_input_cost_per_token=1e-7,
                   cache_write_input_cost_per_token=2e-6)  # fmt: skip


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (TokenCounts(1000, 100), 1000e-6 + 100 * 4e-6),
        (TokenCounts(1000, 100, cached_tokens=400), 600e-6 + 400e-7 + 400e-6),
        (TokenCounts(1000, 100, cache_write_tokens=300), 700e-6 + 300 * 2e-6 + 400e-6),
        (TokenCounts(1000, 100, cached_tokens=400, cache_write_tokens=300), 300e-6 + 400e-7 + 600e-6 + 400e-6),
        (TokenCounts(1000, 0, cached_tokens=900, cache_write_tokens=300), 900e-7 + 100 * 2e-6),  # writes past input: cut
        (TokenCounts(10, 0, cached_tokens=50), 10e-7),  # cached past input: cut
        (TokenCounts(1, 1), 5e-6),
    ],
)
def test_cost_with_cache_reads_and_writes(tokens: TokenCounts, expected: float) -> None:
    assert cost_usd(PRICED, tokens) == pytest.approx(expected, abs=1e-12)


def test_cost_is_rounded_to_ten_places_and_unknown_without_a_price() -> None:
    tiny = ModelSpec(name="t", input_cost_per_token=1.23456789012e-7, output_cost_per_token=0.0)
    assert cost_usd(tiny, TokenCounts(1, 0)) == 1.235e-07  # round(..., 10)
    assert cost_usd(ModelSpec(name="half", input_cost_per_token=1e-6), TokenCounts(1, 1)) is None
    assert cost_usd(None, TokenCounts(1, 1)) is None
    no_cache_prices = ModelSpec(name="n", input_cost_per_token=1e-6, output_cost_per_token=1e-6)
    assert cost_usd(no_cache_prices, TokenCounts(10, 0, cached_tokens=4, cache_write_tokens=3)) == pytest.approx(10e-6)


def test_prompt_tokens_as_openais_cookbook_counts_them() -> None:
    """The example of OpenAI's "How to count tokens" cookbook, with names: 129 tokens for the
    cl100k models and 124 for gpt-4o, as the API reported them there."""
    example = [
        {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
        {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
        {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
        {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
        {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
        {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."},
    ]  # fmt: skip
    assert count_message_tokens(example, "cl100k_base") == 129
    assert count_message_tokens(example, "o200k_base") == 124


def test_tool_calls_count_their_name_and_arguments() -> None:
    plain = [{"role": "assistant", "content": ""}]
    call = {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'}}
    with_call = [{"role": "assistant", "content": "", "tool_calls": [call, call]}]
    added = 2 * len(encoding("o200k_base").encode('get_weather{"location":"Paris"}'))
    assert count_message_tokens(with_call, "o200k_base") == count_message_tokens(plain, "o200k_base") + added
    broken = [{"role": "assistant", "content": "", "tool_calls": [{"id": "c", "function": None}]}]
    assert count_message_tokens(broken, "o200k_base") == count_message_tokens(plain, "o200k_base")


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"a": 2**63}, "parameters: an integer past 64 bits"),
        ({"a": [-(2**63) - 1]}, "parameters: an integer past 64 bits"),
        ({"a": float("nan")}, "parameters: nan is not a JSON number"),
        ({"a": float("-inf")}, "parameters: -inf is not a JSON number"),
        ({"a": "x\ud800"}, "parameters: a lone UTF-16 surrogate (\\ud800-\\udfff) is not text"),
        ({"\udfff": 1}, "parameters: a lone UTF-16 surrogate (\\ud800-\\udfff) is not text"),
        ({"a": {"b": {"c": 1}}}, "parameters: nested deeper than the limit of 3 levels (LLMGATEWAY_MAX_JSON_DEPTH)"),
    ],
)
def test_json_that_no_vendor_or_log_takes_is_refused(tmp_path: Path, parameters: dict, message: str) -> None:
    with pytest.raises(ValidationFailedError) as refused:
        check_request_limits(_limits(tmp_path), [{"role": "user", "content": "x"}], parameters, None, None)
    assert refused.value.message == message


def test_json_at_its_limits_is_taken(tmp_path: Path) -> None:
    fine = {"a": [2**63 - 1, -(2**63), 1.5, "text"]}  # three levels: the object, the list, its items
    check_request_limits(_limits(tmp_path), [{"role": "user", "content": "x"}], fine, None, None)
    check_request_limits(_limits(tmp_path), [{"role": "user", "content": None}], {}, [], {"type": "text"})
    content = [{"type": "image_url", "image_url": {"url": "x" * 10, "detail": "low"}}]  # the URL: 10 characters
    with pytest.raises(ValidationFailedError) as refused:  # ... and "low": 13
        check_request_limits(_limits(tmp_path), [{"role": "user", "content": content}], None, None, None)
    assert refused.value.message.startswith("chat_input[0]: 13 characters")
    with pytest.raises(ValidationFailedError) as in_text:
        check_request_limits(_limits(tmp_path), [{"role": "user", "content": "\ud800"}], None, None, None)
    assert in_text.value.message.startswith("chat_input[0].content: a lone UTF-16 surrogate")


# -- what every upstream call shares ------------------------------------------------------------


class _Adapter:
    def credentials(self, request: object) -> list[str]:
        return ["extra-credential-123456"]


def _target(key: str = "sk-target-key-0123456789") -> ChatRequest:
    return ChatRequest(provider=OPENAI, model="gpt-4o-mini", messages=[], api_key=SecretStr(key), base_url="http://u")


async def test_a_failed_attempt_is_scrubbed_logged_counted_and_marked() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    parent = tracer.start_span("chat")
    cooldowns = Cooldowns(failures=1, cooldown_s=60)
    loop_now = asyncio.get_running_loop().time()
    budget = AttemptBudget(loop_now + 60, 3, RetryPolicy(0.5, 8.0), cooldowns, SecretScrubber([]))
    target = _target()
    span = attempt_span(tracer, parent, target, 2)
    error = UpstreamError("vendor said sk-target-key-0123456789 and extra-credential-123456", status_code=502,
                          retryable=True, error_type="upstream_server_error")  # fmt: skip
    budget.failed(error, target, _Adapter(), deployment_of(target), span)
    span.end()
    assert "sk-target-key-0123456789" not in error.message and "extra-credential-123456" not in error.message
    assert budget.attempts == [{"provider": "openai", "model": "gpt-4o-mini", "status_code": 502, "error": error.message}]
    assert not cooldowns.available(deployment_of(target))  # a retryable failure counts
    (finished,) = exporter.get_finished_spans()
    assert finished.name == "attempt openai/gpt-4o-mini" and finished.parent.span_id == parent.get_span_context().span_id
    assert dict(finished.attributes) == {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
                                         "llmgateway.attempt": 2, "error.type": "upstream_server_error"}  # fmt: skip
    assert finished.status.status_code.name == "ERROR" and finished.status.description == error.message
    # a failure no retry can cure does not count against the deployment
    other = _target("sk-other-key-0123456789")
    budget.failed(UpstreamError("bad", status_code=400, retryable=False), other, _Adapter(), deployment_of(other), span)
    assert cooldowns.available(deployment_of(other)) and len(budget.attempts) == 2


async def test_the_budget_decides_when_to_retry_and_how_long_to_wait() -> None:
    now = asyncio.get_running_loop().time()
    retryable = UpstreamError("busy", status_code=429, retryable=True, headers={"Retry-After": "2"})
    final = UpstreamError("no", status_code=400, retryable=False)
    budget = AttemptBudget(now + 60, 3, RetryPolicy(0.5, 8.0), Cooldowns(3, 30), SecretScrubber([]))
    assert budget.backoff(1, 1, retryable) == 2.0  # Retry-After, within the deadline
    assert budget.backoff(2, 1, retryable) is None  # out of retries
    assert budget.backoff(1, 1, final) is None and budget.may_move_on(final) is False
    assert budget.may_move_on(retryable) is True and budget.spent() is False
    budget.attempts.extend([{}, {}, {}])  # max_attempts reached
    assert budget.spent() is True and budget.may_move_on(retryable) is False and budget.backoff(1, 5, retryable) is None
    short = AttemptBudget(now + 1.5, 10, RetryPolicy(0.5, 8.0), Cooldowns(3, 30), SecretScrubber([]))
    assert short.backoff(1, 5, retryable) is None  # a 2 s wait would pass the deadline
    assert AttemptBudget(now - 1, 10, RetryPolicy(), Cooldowns(3, 30), SecretScrubber([])).spent() is True


def test_an_unexpected_exception_is_typed_by_where_it_came_from() -> None:
    target = _target()
    heard = unexpected_failure(KeyError("x"), "req-1", target, heard=True)
    assert (heard.status_code, heard.error_type, heard.retryable) == (502, "upstream_protocol_error", True)
    assert heard.message == "the upstream's answer could not be read (KeyError)"
    with pytest.raises(ValidationError) as unreadable:
        TypeAdapter(int).validate_python("not a number")
    parse = unexpected_failure(unreadable.value, "req-1", target, heard=False)  # a parse failure is the vendor's
    assert parse.error_type == "upstream_protocol_error"
    ours = unexpected_failure(RuntimeError("bug"), "req-7", target, heard=False)
    assert isinstance(ours, InternalError) and ours.status_code == 500
    assert ours.message == "the gateway failed unexpectedly on request req-7; see its log"


def test_content_parts_in_order_and_text_of_a_tool_result() -> None:
    message = {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "https://x/i.png"}},
                                           {"type": "text", "text": "b"}]}  # fmt: skip
    assert list(content_parts(message)) == ["a", Image(url="https://x/i.png"), "b"]
    assert list(content_parts({"role": "user", "content": "plain"})) == ["plain"]
    assert list(content_parts({"role": "user", "content": ""})) == [] and list(content_parts({"role": "user"})) == []
    with pytest.raises(BadRequestError):
        list(content_parts({"role": "user", "content": [{"type": "image_url"}]}))  # no URL
    with pytest.raises(BadRequestError) as refused:
        list(content_parts({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}))
    assert refused.value.message == "content part of type 'input_audio' is not supported by this provider"
    assert text_of({"role": "tool", "content": [{"type": "text", "text": "22C"}, {"type": "text", "text": " sunny"}]}) == "22C sunny"


def test_content_and_tool_calls_of_a_message_are_checked_as_json(tmp_path: Path) -> None:
    settings = _limits(tmp_path, max_message_chars=1000)
    deep = [{"type": "text", "text": "x", "extra": {"a": {"b": 1}}}]
    with pytest.raises(ValidationFailedError) as nested:
        check_request_limits(settings, [{"role": "user", "content": deep}], None, None, None)
    assert nested.value.message == (
        "chat_input[0].content: nested deeper than the limit of 3 levels (LLMGATEWAY_MAX_JSON_DEPTH)")
    calls = [{"id": "c", "function": {"name": "f", "arguments": "\ud800"}}]
    with pytest.raises(ValidationFailedError) as surrogate:
        check_request_limits(settings, [{"role": "assistant", "content": None, "tool_calls": calls}], None, None, None)
    assert surrogate.value.message.startswith("chat_input[0].tool_calls: a lone UTF-16 surrogate")


def test_backoff_is_full_jitter_under_a_doubling_cap() -> None:
    policy = RetryPolicy(backoff_base_s=0.5, backoff_max_s=8.0)
    error = UpstreamError("busy", status_code=503, retryable=True)
    random.seed(7)
    for attempt, cap in ((1, 0.5), (3, 2.0), (6, 8.0)):  # base * 2^(attempt-1), at most the max
        draws = [policy.delay(attempt, error) for _ in range(400)]
        assert all(0.0 <= d <= cap for d in draws)
        # full jitter: draws cover the range (each bound fails with probability 2^-400)
        assert min(draws) < cap / 2 < max(draws)


def test_the_collector_times_from_its_start() -> None:
    clock = iter([5.0, 6.0, 6.5, 7.0]).__next__
    collector = MetricsCollector(clock=clock)  # started now: 5.0
    collector.observe(TextDelta("a"))  # 6.0
    one = collector.finish()
    assert (one.latency_s, one.time_to_first_token_s, one.generation_s, one.output_events) == (1.0, 1.0, 0.0, 1)
    collector.observe(TextDelta("b"))  # 6.5
    two = collector.finish()
    assert (two.generation_s, two.output_events) == (0.5, 2)
    empty = MetricsCollector(started_at=1.0, clock=lambda: 3.0).finish()
    assert (empty.latency_s, empty.time_to_first_token_s, empty.generation_s, empty.output_events) == (2.0, None, 0.0, 0)


def test_a_deployment_is_named_the_same_in_every_process_and_hides_its_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "from llmgateway.catalog import load_catalog; from llmgateway.core.cooldown import deployment_of;"
        "from llmgateway.vocabulary.requests import ChatRequest; from pydantic import SecretStr;"
        "print(deployment_of(ChatRequest(load_catalog().provider('openai'), 'gpt-4o', [], api_key=SecretStr('sk-abc'))))"
    )
    names = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout for _ in range(2)}
    assert len(names) == 1
    name = names.pop().strip()
    openai = CATALOG.provider("openai")
    assert name == deployment_of(ChatRequest(openai, "gpt-4o", [], api_key=SecretStr("sk-abc")))
    assert name != deployment_of(ChatRequest(openai, "gpt-4o", [], api_key=SecretStr("sk-abd")))
    assert "sk-abc" not in name and len(name) == 32


async def _events_after(delays: list[float]) -> AsyncIterator[int]:
    for i, delay in enumerate(delays):
        await asyncio.sleep(delay)
        yield i


async def test_one_watch_times_an_attempts_upstream_waits_only() -> None:
    loop = asyncio.get_running_loop()
    # a wait past the deadline ends in TimeoutError, and the task is not left cancelled
    watch = UpstreamWatch(loop.time() + 0.05)
    upstream = _events_after([0.0, 10.0])
    assert await watch.next(upstream) == 0
    with pytest.raises(TimeoutError):
        await watch.next(upstream)
    assert asyncio.current_task().cancelling() == 0
    # a deadline that passes while the answer goes to the client ends the next wait at once
    watch = UpstreamWatch(loop.time() + 0.05)
    upstream = _events_after([0.0, 0.0])
    assert await watch.next(upstream) == 0
    await asyncio.sleep(0.1)  # the client is slow to read: not cut
    with pytest.raises(TimeoutError):
        await watch.next(upstream)
    # armed later (the first token came in time), a slower event is let through
    watch = UpstreamWatch(loop.time() + 0.05)
    watch.arm(loop.time() + 10)
    assert [await watch.next(upstream := _events_after([0.1, 0.0])), await watch.next(upstream)] == [0, 1]
    assert await watch.next(upstream) is None
    watch.disarm()


async def test_a_cancel_from_elsewhere_is_not_taken_for_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    watch_holder: list[UpstreamWatch] = []

    async def attempt() -> None:
        watch_holder.append(UpstreamWatch(loop.time() + 10))
        await watch_holder[0].next(_events_after([10.0]))

    task = asyncio.create_task(attempt())
    await asyncio.sleep(0.01)
    task.cancel()  # the client left
    with pytest.raises(asyncio.CancelledError):
        await task
    watch_holder[0].disarm()
