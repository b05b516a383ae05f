"""The wire shapes clients send, validated once at the edge."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from llmgateway.vocabulary.requests import CacheOptions, ChatInput


class _Lenient(BaseModel):
    """Unknown keys are ignored: clients of the reference send a few we do not use."""

    model_config = ConfigDict(extra="ignore")


class FunctionCall(_Lenient):
    name: str
    arguments: str = ""


class ToolCall(_Lenient):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ImageUrl(_Lenient):
    url: str = Field(min_length=1)
    detail: str | None = None


class ContentPart(BaseModel):
    """A text, image or other part of a message; vendor-specific parts pass through.

    The parts the gateway translates are checked by shape here, so a wrong type is a 422
    before any upstream call rather than an adapter's surprise."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _known_parts_have_their_shape(self) -> "ContentPart":
        extra = self.model_extra or {}
        if self.type == "text" and not isinstance(extra.get("text"), str):
            raise ValueError("a text part needs 'text', a string")
        if self.type == "image_url":
            extra["image_url"] = ImageUrl.model_validate(extra.get("image_url")).model_dump(exclude_none=True)
        return self


class Message(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(default=None, max_length=256)
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = Field(default=None, max_length=256)


class FunctionDefinition(_Lenient):
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Lenient):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class NamedFunction(_Lenient):
    name: str = Field(min_length=1, max_length=64)


class ToolChoiceFunction(_Lenient):
    """`{"type": "function", "function": {"name": ...}}`: call this tool."""

    type: Literal["function"] = "function"
    function: NamedFunction


class ResponseFormat(BaseModel):
    """`{"type": "text" | "json_object" | "json_schema", "json_schema": {"schema": {...}}}`."""

    model_config = ConfigDict(extra="allow")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _schema_is_an_object(self) -> "ResponseFormat":
        schema = (self.json_schema or {}).get("schema")
        if schema is not None and not isinstance(schema, dict):
            raise ValueError("json_schema.schema must be a JSON schema object")
        return self


def _no_path_steps(name: str) -> str:
    if ".." in name:
        raise ValueError("a model name has no '..'")
    return name


# A model name as vendors spell them: no spaces, no query, fragment, escapes or path steps
# (it becomes part of an upstream URL for some vendors).
ModelName = Annotated[
    str,
    Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/+\-]*$"),
    AfterValidator(_no_path_steps),
]


class CacheControl(BaseModel):
    """What a request asks of the response cache (when `LLMGATEWAY_CACHE` is on)."""

    model_config = ConfigDict(extra="forbid")
    ttl: float | None = Field(default=None, gt=0, le=30 * 86400, description="Seconds to keep this answer.")
    no_cache: bool = Field(default=False, description="Do not answer from the cache.")
    no_store: bool = Field(default=False, description="Do not store this answer.")
    paced: bool = Field(default=False, description="Replay a streamed hit at its original pace.")
    any_temperature: bool = Field(default=False, description="Cache it though its temperature is not 0.")

    def options(self) -> CacheOptions:
        return CacheOptions(self.ttl, self.no_cache, self.no_store, self.paced, self.any_temperature)


class GatewayOptions(BaseModel):
    """Fields both APIs take beyond the vendors': resilience, sessions and the cache."""

    session_id: str | None = Field(default=None, max_length=256)
    retries: int | None = Field(default=None, ge=0, le=10, description="Retries on retryable upstream failures.")
    fallbacks: list[str] | None = Field(
        default=None, max_length=10, description="provider/model targets tried in order on a retryable failure."
    )
    timeout: float | None = Field(default=None, gt=0, le=3600, description="Total seconds for the call.")
    first_token_timeout: float | None = Field(default=None, gt=0, le=3600, description="Seconds to the first output.")
    cache: CacheControl | None = None

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        parameters: dict[str, Any] | None,
        tools: "list[Tool] | list[dict[str, Any]] | None",
        tool_choice: "str | ToolChoiceFunction | dict[str, Any] | None",
        response_format: "ResponseFormat | dict[str, Any] | None",
        api_key: SecretStr | None = None,
    ) -> ChatInput:
        return ChatInput(
            messages=messages,
            parameters=parameters,
            tools=None if tools is None else [_plain(t) for t in tools],
            tool_choice=_plain(tool_choice) if isinstance(tool_choice, BaseModel) else tool_choice,
            response_format=None if response_format is None else _plain(response_format),
            api_key=api_key,
            session_id=self.session_id,
            retries=self.retries,
            fallbacks=list(self.fallbacks or ()),
            timeout_s=self.timeout,
            first_token_timeout_s=self.first_token_timeout,
            cache=None if self.cache is None else self.cache.options(),
        )


def _plain(value: BaseModel | dict[str, Any]) -> dict[str, Any]:
    """A validated shape as a plain dict (surfaces that translate pass dicts already)."""
    return value.model_dump(exclude_none=True) if isinstance(value, BaseModel) else value


class EngineChatBody(GatewayOptions, _Lenient):
    """`POST /api/engine/chat/{provider}`: the reference's fields, and a few more."""

    api_key: SecretStr | None = Field(default=None, description="The provider's API key; default: the server's.")
    model: ModelName = Field(description="The provider's model name, e.g. gpt-4o-mini.")
    chat_input: str | Annotated[list[Message], Field(min_length=1)] = Field(description="A user message, or a whole conversation.")
    parameters: dict[str, Any] | None = Field(default=None, description="Sampling parameters.")
    is_stream: bool = Field(default=False, description="Stream the answer as server-sent events.")
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | ToolChoiceFunction | None = None
    response_format: ResponseFormat | None = None

    def messages(self) -> list[dict[str, Any]]:
        """The conversation as OpenAI-style message dicts."""
        if isinstance(self.chat_input, str):
            return [{"role": "user", "content": self.chat_input}]
        return [m.model_dump(exclude_none=True) for m in self.chat_input]

    def to_chat(self) -> ChatInput:
        return self.chat(
            self.messages(),
            parameters=self.parameters,
            tools=self.tools,
            tool_choice=self.tool_choice,
            response_format=self.response_format,
            api_key=self.api_key,
        )
