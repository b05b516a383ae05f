"""The wire shapes clients send, validated once at the edge."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from llmgateway.core.request import ChatInput


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


class ContentPart(BaseModel):
    """A text, image or other part of a message; vendor-specific parts pass through."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(min_length=1, max_length=64)


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


class GatewayOptions(BaseModel):
    """Fields both APIs take beyond the vendors': resilience and sessions."""

    session_id: str | None = Field(default=None, max_length=256)
    retries: int | None = Field(default=None, ge=0, le=10, description="Retries on retryable upstream failures.")
    fallbacks: list[str] | None = Field(
        default=None, max_length=10, description="provider/model targets tried in order on a retryable failure."
    )
    timeout: float | None = Field(default=None, gt=0, le=3600, description="Total seconds for the call.")
    first_token_timeout: float | None = Field(default=None, gt=0, le=3600, description="Seconds to the first output.")

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        parameters: dict[str, Any] | None,
        tools: list["Tool"] | None,
        tool_choice: str | dict[str, Any] | None,
        response_format: dict[str, Any] | None,
        api_key: SecretStr | None = None,
    ) -> ChatInput:
        return ChatInput(
            messages=messages,
            parameters=parameters,
            tools=None if tools is None else [t.model_dump(exclude_none=True) for t in tools],
            tool_choice=tool_choice,
            response_format=response_format,
            api_key=api_key,
            session_id=self.session_id,
            retries=self.retries,
            fallbacks=list(self.fallbacks or ()),
            timeout_s=self.timeout,
            first_token_timeout_s=self.first_token_timeout,
        )


class EngineChatBody(GatewayOptions, _Lenient):
    """`POST /api/engine/chat/{provider}`: the reference's fields, and a few more."""

    api_key: SecretStr | None = Field(default=None, description="The provider's API key; default: the server's.")
    model: str = Field(min_length=1, max_length=256, description="The provider's model name, e.g. gpt-4o-mini.")
    chat_input: str | list[Message] = Field(description="A user message, or a whole conversation.")
    parameters: dict[str, Any] | None = Field(default=None, description="Sampling parameters.")
    is_stream: bool = Field(default=False, description="Stream the answer as server-sent events.")
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None

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
