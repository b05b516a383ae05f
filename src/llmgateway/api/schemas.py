"""The wire shapes clients send, validated once at the edge."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


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


class EngineChatBody(_Lenient):
    """`POST /api/engine/chat/{provider}`: the reference's fields, and a few more."""

    api_key: SecretStr | None = Field(default=None, description="The provider's API key; default: the server's.")
    model: str = Field(min_length=1, max_length=256, description="The provider's model name, e.g. gpt-4o-mini.")
    chat_input: str | list[Message] = Field(description="A user message, or a whole conversation.")
    parameters: dict[str, Any] | None = Field(default=None, description="Sampling parameters.")
    is_stream: bool = Field(default=False, description="Stream the answer as server-sent events.")
    session_id: str | None = Field(default=None, max_length=256)
    retries: int | None = Field(default=None, ge=0, le=10, description="Retries on retryable upstream failures.")
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None

    def messages(self) -> list[dict[str, Any]]:
        """The conversation as OpenAI-style message dicts."""
        if isinstance(self.chat_input, str):
            return [{"role": "user", "content": self.chat_input}]
        return [m.model_dump(exclude_none=True) for m in self.chat_input]

    def tool_dicts(self) -> list[dict[str, Any]] | None:
        return None if self.tools is None else [t.model_dump(exclude_none=True) for t in self.tools]
