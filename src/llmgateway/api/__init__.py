"""The HTTP surfaces of the gateway."""

from llmgateway.api.app import create_app

__all__ = ["create_app"]
