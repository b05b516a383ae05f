"""The one internal request every API surface is translated into."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from llmgateway.catalog import ModelSpec, ProviderSpec


@dataclass(frozen=True, slots=True)
class KeyPrincipal:
    """A virtual key a request was authenticated with: who it is, what it may do."""

    id: str
    name: str
    team_id: str | None
    allowed_models: tuple[str, ...] | None  # provider/model, provider/* or route names; None: any
    rpm: int | None  # requests a minute for this key
    team_rpm: int | None  # requests a minute for its whole team
    budget_usd: float | None = None  # for this key, per budget_period (day, week, month, total)
    budget_period: str | None = None
    team_budget_usd: float | None = None
    team_budget_period: str | None = None
    tpm: int | None = None  # tokens (input and output) a minute for this key, and its team
    team_tpm: int | None = None
    max_parallel: int | None = None  # requests in flight at once for this key, and its team
    team_max_parallel: int | None = None
    retries: int | None = None  # the key's requests' retries and timeout: the default, and the most
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from: the API surface, the client, when it arrived, and the virtual
    key it came with (when the gateway governs access with keys)."""

    surface: str  # engine, openai, anthropic, responses or client (in-process)
    client_address: str | None = None
    received_at: float = 0.0  # monotonic
    key: KeyPrincipal | None = None


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """What one request asks of the response cache (when the gateway has one)."""

    ttl_s: float | None = None  # how long to keep this answer; None: the gateway's default
    no_cache: bool = False  # do not answer from the cache (the answer may still be stored)
    no_store: bool = False  # do not store this answer
    paced: bool = False  # replay a streamed hit at the pace it first came, not at once
    any_temperature: bool = False  # cache it though its temperature is not 0


@dataclass(slots=True)
class ChatInput:
    """What a client asked, before the gateway resolves it into requests for targets."""

    messages: list[dict[str, Any]]
    parameters: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    api_key: SecretStr | None = None
    session_id: str | None = None
    retries: int | None = None
    fallbacks: list[str] = field(default_factory=list)  # provider/model or aliases, in order
    timeout_s: float | None = None
    first_token_timeout_s: float | None = None
    cache: CacheOptions | None = None
    keep_content: bool = True  # False: the request log keeps the call's numbers, not its messages


@dataclass(slots=True)
class ChatRequest:
    """A validated chat call, ready for a provider adapter.

    `messages` are OpenAI-style messages (the lingua franca every adapter translates from).
    `parameters` holds only what the client set; `effective_parameters` adds the catalog's
    defaults, to report which values were in force.
    """

    provider: ProviderSpec
    model: str
    messages: list[dict[str, Any]]
    parameters: dict[str, Any] = field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    api_key: SecretStr | None = None
    base_url: str | None = None
    session_id: str | None = None
    retries: int = 0
    origin: Origin = Origin("engine")
    vendor_options: dict[str, Any] = field(default_factory=dict)  # e.g. api_version
    timeout_s: float | None = None
    first_token_timeout_s: float | None = None
    fallbacks: list["ChatRequest"] = field(default_factory=list)  # tried in order after this one
    cache: CacheOptions | None = None
    cache_key: str | None = None  # set when the gateway caches answers and this one may be cached
    rate_limit_headers: dict[str, str] | None = None  # what the key's limits left, for the answer
    limits_hold: Any = None  # the tokens and concurrency slots its key's limits hold, released at the end
    budget_hold: Any = None  # the worst-case cost reserved against the key's budgets, settled at the end
    # The client's body in this target's own wire format (a surface that speaks the vendor's
    # API: Anthropic's Messages to `anthropic`, OpenAI's Responses to a provider with
    # `responses_api`), sent instead of a translation so that what the gateway does not model
    # still arrives.
    native_body: dict[str, Any] | None = None
    # Vendor features the client asked for by name (Anthropic's betas), each one of the
    # server's allowed values (`vendor_options`), so an upstream header holds server values only.
    vendor_features: tuple[str, ...] = ()
    keep_content: bool = True

    @property
    def model_spec(self) -> ModelSpec | None:
        return self.provider.model(self.model)

    @property
    def effective_parameters(self) -> dict[str, Any]:
        defaults = {
            p.id: p.default for p in self.provider.parameters_for(self.model) if p.default is not None
        }
        return {**defaults, **self.parameters}

    @property
    def chat_input(self) -> str:
        """The text of the last user message (what the reference calls `chat_input`)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message_text(message)
        return ""


def key_of(request: ChatRequest | EmbeddingRequest) -> str:
    """The provider key in clear, for the SDK that sends it (empty when the provider needs none)."""
    return request.api_key.get_secret_value() if request.api_key else ""


def message_text(message: dict[str, Any]) -> str:
    """The text of a message whose content is a string or a list of content parts."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")


@dataclass(slots=True)
class EmbeddingRequest:
    """Texts to embed with one provider's model."""

    provider: ProviderSpec
    model: str
    inputs: list[str]
    options: dict[str, Any] = field(default_factory=dict)  # dimensions, encoding_format
    api_key: SecretStr | None = None
    base_url: str | None = None
    origin: Origin = Origin("openai")
    vendor_options: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    id: str = field(default_factory=lambda: str(uuid.uuid4()))  # the record's id
