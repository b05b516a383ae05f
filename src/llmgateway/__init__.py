"""llmgateway: one API in front of every LLM vendor, with honest metrics and a request log."""

from typing import Any

from llmgateway.version import __version__

__all__ = ["LLM", "LLMGatewayError", "__version__"]


def __getattr__(name: str) -> Any:
    """`from llmgateway import LLM` loads the client only when asked for (the server needs none of it)."""
    if name in ("LLM", "LLMGatewayError"):
        from llmgateway import client

        return getattr(client, name)
    raise AttributeError(f"module 'llmgateway' has no attribute {name!r}")
