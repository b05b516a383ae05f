"""What the server's configuration gives each provider: its key, endpoint and vendor options.

Read from the environment (and `.env`) once per provider, the first time the provider is
used, and kept: a request costs no environment lookups, and every request of a process sees
the same configuration. Changing a vendor variable takes a restart, as it does for the
gateway's own settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from llmgateway.catalog import ProviderSpec
from llmgateway.errors import MissingCredentialsError, ProviderNotConfiguredError
from llmgateway.settings import Settings


@dataclass(frozen=True, slots=True)
class ProviderSetup:
    """One provider's configuration, as the server's variables resolve it."""

    spec: ProviderSpec
    server_key: SecretStr | None
    has_ambient_credentials: bool  # True also for a provider that has no credential chain of its own
    endpoint: str | None  # the operator's override of the catalog's base URL
    option_overrides: dict[str, Any]  # vendor options set by variables, over the catalog's
    _options_by_model: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def resolve(cls, spec: ProviderSpec, settings: Settings) -> ProviderSetup:
        overrides = {}
        for name, variables in spec.options_env.items():
            value = next((v for v in map(settings.vendor_value, variables) if v is not None), None)
            if value is not None:
                overrides[name] = value
        return cls(
            spec=spec,
            server_key=next(filter(None, map(settings.vendor_secret, spec.api_key_env)), None),
            has_ambient_credentials=_ambient_credentials_present(spec, settings),
            endpoint=settings.vendor_value(spec.base_url_env) if spec.base_url_env else None,
            option_overrides=overrides,
        )

    def api_key(self) -> SecretStr | None:
        """The server's key; a provider that needs one and has none is a clear 401."""
        if self.spec.api_key_env and self.server_key is None:
            raise MissingCredentialsError(
                f"no API key for provider {self.spec.id!r}: send 'api_key' in the body "
                f"or set {' or '.join(self.spec.api_key_env)} on the server"
            )
        return self.server_key

    def base_url(self) -> str | None:
        if self.endpoint:
            return self.endpoint
        if self.spec.endpoint_required:  # an endpoint only the operator knows (Azure's resource)
            raise ProviderNotConfiguredError(
                f"provider {self.spec.id!r} has no endpoint: set {self.spec.base_url_env} on the server"
            )
        return self.spec.base_url

    def vendor_options(self, model: str) -> dict[str, Any]:
        """The vendor options of a call to `model`; a required one left unset is a clear 400.
        Each call gets its own copy (adapters may read it, nothing may change the shared one)."""
        options = self._options_by_model.get(model)
        if options is None:
            options = {**self.spec.options_for(model), **self.option_overrides}
            missing = self.missing_options(options)
            if missing:
                raise ProviderNotConfiguredError(
                    f"provider {self.spec.id!r} is not configured: set {', '.join(missing)} on the server"
                )
            if len(self._options_by_model) < 1024:  # bounded: model names come from clients
                self._options_by_model[model] = options
        return dict(options)

    def missing_options(self, options: dict[str, Any]) -> list[str]:
        """The variables (or catalog keys) that would give the required options still unset."""
        return [
            " or ".join(self.spec.options_env.get(name, ())) or f"options.{name} in the catalog"
            for name in self.spec.required_options
            if not options.get(name)
        ]

    def set_by_operator(self) -> bool:
        """Whether the operator gave this provider anything (a key, credentials, an endpoint or
        an option): a provider that serves on the catalog's defaults alone (a local Ollama) is
        ready, yet nobody said it will be used."""
        has_credential_chain = bool(self.spec.ambient_credentials_env or self.spec.ambient_credentials_files)
        return bool(
            self.server_key is not None
            or (has_credential_chain and self.has_ambient_credentials)
            or self.endpoint
            or self.option_overrides
        )

    def missing(self) -> list[str]:
        """What the server must set before the provider can serve (its packages aside)."""
        missing = []
        if self.spec.api_key_env and self.server_key is None:
            missing.append(" or ".join(self.spec.api_key_env))
        if not self.has_ambient_credentials:
            sources = (*self.spec.ambient_credentials_env[:1], *self.spec.ambient_credentials_files[:1])
            missing.append(f"{self.spec.ambient_credentials_name} (e.g. {' or '.join(sources)})")
        if self.spec.endpoint_required and self.spec.base_url_env and not self.endpoint:
            missing.append(self.spec.base_url_env)
        return missing + self.missing_options({**self.spec.options, **self.option_overrides})


def _ambient_credentials_present(spec: ProviderSpec, settings: Settings) -> bool:
    if not (spec.ambient_credentials_env or spec.ambient_credentials_files):
        return True
    return any(settings.vendor_value(name) for name in spec.ambient_credentials_env) or any(
        Path(path).expanduser().is_file() for path in spec.ambient_credentials_files
    )
