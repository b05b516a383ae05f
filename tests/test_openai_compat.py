"""The /v1 API, driven by real clients: the OpenAI SDK (sync and async) and LangChain.

Three providers stand behind the gateway: OpenAI, an OpenAI-compatible server declared in a
user catalog file (as a team would declare its vLLM), and Anthropic, each through its emulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import httpx
import openai
import pytest

from tests.emulators.openai import DEFAULT_REPLY, VALID_KEY, Fault, OpenAIEmulator

MODELS = ["openai/gpt-4o-mini", "localvllm/llama-3.1-8b", "anthropic/claude-haiku-4-5"]


@pytest.fixture
def v1_url(
    gateway_factory: Callable[..., str], tmp_path: Path, openai_emulator: OpenAIEmulator, anthropic_emulator, monkeypatch
) -> str:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "providers:\n"
        "  localvllm:\n"
        "    name: Local vLLM\n"
        "    adapter: openai\n"
        f"    base_url: {openai_emulator.base_url}\n"  # type: ignore[attr-defined]
        "    api_key_env: LOCALVLLM_API_KEY\n"
        "    models:\n"
        "      llama-3.1-8b: {context_window: 131072, input_cost_per_token: 1.0e-07, output_cost_per_token: 2.0e-07}\n"
        "model_aliases:\n"
        "  local: localvllm/llama-3.1-8b\n"
    )
    monkeypatch.setenv("LOCALVLLM_API_KEY", VALID_KEY)
    return gateway_factory(catalog=catalog) + "/v1"


@pytest.fixture
def sdk(v1_url: str) -> Iterator[openai.OpenAI]:
    # The application's own key is for the gateway; vendor keys live on the server.
    with openai.OpenAI(base_url=v1_url, api_key="not-a-vendor-key", max_retries=0) as client:
        yield client


@pytest.mark.parametrize("model", MODELS)
def test_sdk_non_streaming(sdk: openai.OpenAI, model: str, openai_emulator: OpenAIEmulator) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "Hello! Who are you?"}], max_tokens=50
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == DEFAULT_REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 12
    assert completion.object == "chat.completion"
    # the metrics ride along: every documented header, each equal to the body's metric (to the
    # 6 significant digits a header carries), and an extra body field the SDK keeps
    metrics = completion.model_extra["metrics"]
    assert metrics["output_tokens"] == 12
    for name in ("latency_s", "time_to_first_token_s", "inter_token_latency_s", "tokens_per_second", "cost_usd"):
        header = "x-llmgateway-" + name.replace("_", "-")
        assert float(raw.headers[header]) == pytest.approx(metrics[name], rel=1e-5), header
    assert int(raw.headers["x-llmgateway-input-tokens"]) == metrics["input_tokens"] == completion.usage.prompt_tokens
    assert int(raw.headers["x-llmgateway-output-tokens"]) == 12
    assert raw.headers["x-llmgateway-tokens-estimated"] == "false"
    assert raw.headers["x-llmgateway-provider"] == model.split("/")[0]
    assert raw.headers["x-llmgateway-request-id"].replace("-", "") == completion.id.removeprefix("chatcmpl-")
    if not model.startswith("anthropic/"):
        sent = openai_emulator.requests[-1]
        assert sent["model"] == model.split("/", 1)[1] and sent["max_completion_tokens"] == 50
        assert openai_emulator.headers[-1]["authorization"] == f"Bearer {VALID_KEY}"  # the server's key


def test_sampling_fields_reach_the_vendor_as_sent(v1_url: str, openai_emulator: OpenAIEmulator) -> None:
    """Undeclared fields pass through as sent, a null one is left out, max_completion_tokens
    arrives under OpenAI's name, and none of the gateway's own fields goes upstream."""
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 9,
            "seed": 3, "logit_bias": {"50256": -100}, "temperature": None, "retries": 0}  # fmt: skip
    r = httpx.post(f"{v1_url}/chat/completions", json=body)
    assert r.status_code == 200, r.text
    sent = openai_emulator.requests[-1]
    assert sent["max_completion_tokens"] == 9 and sent["seed"] == 3 and sent["logit_bias"] == {"50256": -100}
    assert "temperature" not in sent and "retries" not in sent and "max_tokens" not in sent


@pytest.mark.parametrize("model", MODELS)
def test_sdk_streaming_with_usage(sdk: openai.OpenAI, model: str) -> None:
    stream = sdk.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi"}], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == DEFAULT_REPLY
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish[0].choices[0].finish_reason == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens == 12
    assert last.model_extra["metrics"]["time_to_first_token_s"] > 0


def test_sdk_streaming_without_usage_has_metrics_on_the_last_chunk(sdk: openai.OpenAI) -> None:
    chunks = list(sdk.chat.completions.create(model="fast", messages=[{"role": "user", "content": "Hi"}], stream=True))
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["metrics"]["output_tokens"] == 12


async def test_async_sdk_streamed_and_not(v1_url: str) -> None:
    async with openai.AsyncOpenAI(base_url=v1_url, api_key="x", max_retries=0) as client:
        completion = await client.chat.completions.create(model="local", messages=[{"role": "user", "content": "Hi"}])
        assert completion.choices[0].message.content == DEFAULT_REPLY
        stream = await client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == DEFAULT_REPLY


def test_sdk_tool_calls(sdk: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    completion = sdk.chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Weather?"}], tools=tools
    )
    call = completion.choices[0].message.tool_calls[0]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and call.function.arguments == '{"location":"Paris"}'


def test_errors_reach_the_sdk_as_its_own_exceptions(sdk: openai.OpenAI, openai_emulator: OpenAIEmulator) -> None:
    with pytest.raises(openai.NotFoundError, match="provider/model"):
        sdk.chat.completions.create(model="nobody/nothing", messages=[{"role": "user", "content": "x"}])
    openai_emulator.faults.append(Fault("status", status=429, message="slow down", headers={"retry-after": "3"}))
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert caught.value.response.headers["retry-after"] == "3"
    assert "slow down" in caught.value.message
    with pytest.raises(openai.UnprocessableEntityError) as invalid:
        sdk.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x"}], temperature=5
        )
    assert invalid.value.body["param"] == "parameters.temperature"
    assert invalid.value.message.startswith("Error code: 422 - ") and "must be at most 2.0, got 5" in invalid.value.message
    with pytest.raises(openai.UnprocessableEntityError):
        sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x"}], n=2)


def test_models_lists_provider_model_ids_and_aliases(sdk: openai.OpenAI) -> None:
    ids = {m.id for m in sdk.models.list()}
    assert {"openai/gpt-4o-mini", "localvllm/llama-3.1-8b", "fast", "local"} <= ids


def test_v1_calls_are_in_the_request_log(sdk: openai.OpenAI, v1_url: str) -> None:
    sdk.chat.completions.create(model="local", messages=[{"role": "user", "content": "logged?"}])
    rows = httpx.get(v1_url.removesuffix("/v1") + "/api/tracking/logs").json()
    assert rows[0]["surface"] == "openai" and rows[0]["provider"] == "localvllm"
    assert rows[0]["chat_input"] == "logged?" and rows[0]["status"] == "success"


@pytest.mark.parametrize("model", MODELS)
def test_langchain_chat_openai(v1_url: str, model: str) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=v1_url, api_key="x", model=model, max_retries=0)
    answer = llm.invoke("Hello! Who are you?")
    assert answer.content == DEFAULT_REPLY
    assert answer.usage_metadata is not None and answer.usage_metadata["output_tokens"] == 12
    streamed = "".join(chunk.content for chunk in llm.stream("Hi"))
    assert streamed == DEFAULT_REPLY


def test_embeddings_through_the_sdk(sdk: openai.OpenAI, v1_url: str, openai_emulator: OpenAIEmulator) -> None:
    raw = sdk.embeddings.with_raw_response.create(
        model="openai/text-embedding-3-small", input=["first text here", "second"], encoding_format="float"
    )
    result = raw.parse()
    assert [d.index for d in result.data] == [0, 1]
    assert result.data[1].embedding == [0.06, 0.25, -0.5, 1.0]
    assert result.usage.prompt_tokens == 4
    assert float(raw.headers["x-llmgateway-cost-usd"]) == pytest.approx(4 * 2.0e-08)
    assert openai_emulator.requests[-1]["model"] == "text-embedding-3-small"
    rows = httpx.get(v1_url.removesuffix("/v1") + "/api/tracking/logs").json()
    assert rows[0]["finish_reason"] == "embedding" and rows[0]["input_tokens"] == 4
