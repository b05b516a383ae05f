"""Maps a catalog provider's `adapter` name to a live adapter, made on first use.

An adapter module is imported only when a provider that needs it is called, so a missing
optional SDK makes that provider "not ready" instead of breaking the gateway's start.
"""

from __future__ import annotations

import importlib
import importlib.util

from llmgateway.errors import ConfigurationError, GatewayError
from llmgateway.providers.base import ProviderAdapter
from llmgateway.providers.pool import shared_http_client, tls_context
from llmgateway.settings import Settings

# adapter name -> (module, class, the package it needs)
ADAPTERS: dict[str, tuple[str, str, str]] = {
    "openai": ("llmgateway.providers.openai", "OpenAIAdapter", "openai"),
    "azure": ("llmgateway.providers.openai", "AzureOpenAIAdapter", "openai"),
    "anthropic": ("llmgateway.providers.anthropic", "AnthropicAdapter", "anthropic"),
    "google": ("llmgateway.providers.google", "GoogleAdapter", "google.genai"),
    "ollama": ("llmgateway.providers.ollama", "OllamaAdapter", "ollama"),
    "bedrock": ("llmgateway.providers.bedrock", "BedrockAdapter", "aiobotocore"),
    "mock": ("llmgateway.providers.mock", "MockAdapter", "llmgateway"),
}


class AdapterNotInstalledError(GatewayError):
    """A provider whose SDK is not installed: a 4xx that says what to install."""

    status_code = 400
    error_type = "provider_not_installed"


class AdapterRegistry:
    """One adapter instance per adapter name, sharing one HTTP connection pool each."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._adapters: dict[str, ProviderAdapter] = {}

    def get(self, adapter_name: str) -> ProviderAdapter:
        adapter = self._adapters.get(adapter_name)
        if adapter is None:
            adapter = self._adapters[adapter_name] = self._build(adapter_name)
        return adapter

    def _build(self, adapter_name: str) -> ProviderAdapter:
        try:
            module_name, class_name, package = ADAPTERS[adapter_name]
        except KeyError:
            raise ConfigurationError(f"the catalog names an unknown adapter {adapter_name!r}") from None
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise AdapterNotInstalledError(
                f"the {adapter_name} provider needs the {package!r} package: pip install {package}"
            ) from None
        adapter_class = getattr(module, class_name)
        return adapter_class(shared_http_client(self._settings.connect_timeout_s, self._settings.request_timeout_s))

    @staticmethod
    def import_adapter(adapter_name: str) -> None:
        """Import an adapter's module (and its SDK) without building it, and make the process's
        TLS context, which building it needs: what its first request would otherwise do on the
        event loop. Safe in any thread."""
        importlib.import_module(ADAPTERS[adapter_name][0])
        tls_context()

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()
        self._adapters.clear()


def adapter_is_installed(adapter_name: str) -> bool:
    """Whether the adapter's SDK can be imported, without importing it."""
    entry = ADAPTERS.get(adapter_name)
    return entry is not None and importlib.util.find_spec(entry[2]) is not None
