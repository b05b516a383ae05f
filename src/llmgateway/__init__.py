"""llmgateway: one API in front of every LLM vendor, with honest metrics and a request log."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["LLM", "LLMGatewayError", "__version__"]


def __getattr__(name: str) -> Any:
    """`from llmgateway import LLM` loads the client only when asked for (the server needs none of it)."""
    if name in ("LLM", "LLMGatewayError"):
        from llmgateway import client

        return getattr(client, name)
    raise AttributeError(f"module 'llmgateway' has no attribute {name!r}")
