"""Load the catalog YAML (built-in, then the user's file merged over it) into typed specs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from llmgateway.errors import ConfigurationError

# A dated snapshot takes its model's price: gpt-4o-mini-2024-07-18, claude-3-5-haiku-20241022.
_SNAPSHOT_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    id: str
    name: str
    type: str  # "float", "int" or "stop"
    default: float | int | None = None
    min: float | int | None = None
    max: float | int | None = None
    step: float | int | None = None

    def public(self) -> dict[str, Any]:
        """The shape `GET /api/engine/parameters` serves."""
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "step": self.step,
        }


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    kind: str = "chat"  # or "embedding"
    context_window: int | None = None
    input_cost_per_token: float | None = None
    cached_input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    cache_write_input_cost_per_token: float | None = None
    unsupported_parameters: frozenset[str] = frozenset()
    tokenizer: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # vendor-specific, e.g. api_version

    @property
    def has_price(self) -> bool:
        return self.input_cost_per_token is not None and self.output_cost_per_token is not None


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    id: str
    name: str
    adapter: str
    base_url: str | None = None
    base_url_env: str | None = None
    endpoint_required: bool = False  # no default endpoint: the operator must give one (Azure)
    api_key_env: tuple[str, ...] = ()  # variables that may hold the key, the first set wins
    tokenizer: str = "o200k_base"
    parameters: dict[str, ParameterSpec] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)  # vendor-specific, e.g. api_version
    options_env: dict[str, tuple[str, ...]] = field(default_factory=dict)  # option -> variables overriding it
    required_options: tuple[str, ...] = ()  # options the operator must give (Vertex AI's project)
    # A keyless provider's credential chain (AWS, Google ADC): the variables and files it reads.
    # None of them present means "not ready", though a cloud instance role may still serve.
    ambient_credentials_name: str = ""
    ambient_credentials_env: tuple[str, ...] = ()
    ambient_credentials_files: tuple[str, ...] = ()

    def options_for(self, model: str) -> dict[str, Any]:
        """Vendor-specific options: the provider's, with the model's own over them."""
        spec = self.model(model)
        return {**self.options, **(spec.options if spec else {})}

    def model(self, name: str) -> ModelSpec | None:
        """The catalog entry of `name`, or of the model it is a dated snapshot of."""
        spec = self.models.get(name)
        if spec is None:
            base = _SNAPSHOT_SUFFIX.sub("", name)
            if base != name:
                spec = self.models.get(base)
        return spec

    def parameters_for(self, model: str | None) -> list[ParameterSpec]:
        """The tunable parameters, less those the model does not accept."""
        spec = self.model(model) if model else None
        excluded = spec.unsupported_parameters if spec else frozenset()
        return [p for pid, p in self.parameters.items() if pid not in excluded]

    def tokenizer_for(self, model: str) -> str:
        spec = self.model(model)
        return (spec.tokenizer if spec and spec.tokenizer else None) or self.tokenizer


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """One deployment of a route: a provider's model, a weight, optionally its own key."""

    provider: str
    model: str
    weight: float = 1.0
    api_key_env: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """A named route: load-balanced targets, then fallbacks in order."""

    name: str
    targets: tuple[RouteTarget, ...]
    fallbacks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Catalog:
    providers: dict[str, ProviderSpec]
    _aliases: dict[str, str]
    model_aliases: dict[str, str] = field(default_factory=dict)
    routes: dict[str, RouteSpec] = field(default_factory=dict)

    def provider(self, provider_id: str) -> ProviderSpec | None:
        """The provider of that id or alias, or None."""
        return self.providers.get(self._aliases.get(provider_id, provider_id))

    def provider_ids(self) -> list[str]:
        return list(self.providers)

    def resolve_model(self, name: str) -> tuple[str, str] | None:
        """(provider id, model) for `provider/model`, a catalog alias, or a model the catalog
        knows by its bare name (the first provider that lists it); None if none fits."""
        name = self.model_aliases.get(name, name)
        prefix, slash, rest = name.partition("/")
        if slash and rest and self.provider(prefix) is not None:
            return prefix, rest
        for provider_id, spec in self.providers.items():
            if spec.model(name) is not None:
                return provider_id, name
        return None


# libyaml's parser where PyYAML was built with it (its wheels are): the catalog in 4 ms, not 28.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_catalog(user_file: Path | None = None) -> Catalog:
    """The built-in catalog, with the user's YAML file (if any) merged over it."""
    raw = yaml.load(resources.files("llmgateway.catalog").joinpath("catalog.yaml").read_text("utf-8"), Loader=_YAML_LOADER)
    if user_file is not None:
        raw = _deep_merge(raw, _read_user_file(user_file))
    return _build(raw)


def _read_user_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(Path(path).read_text("utf-8"), Loader=_YAML_LOADER) or {}
    except OSError as exc:
        raise ConfigurationError(f"cannot read the catalog file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"the catalog file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"the catalog file {path} must hold a mapping with a 'providers' key")
    return data


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(raw: dict[str, Any]) -> Catalog:
    providers: dict[str, ProviderSpec] = {}
    aliases: dict[str, str] = {}
    for provider_id, entry in (raw.get("providers") or {}).items():
        try:
            spec = _build_provider(provider_id, entry)
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigurationError(f"catalog entry for provider {provider_id!r} is invalid: {exc}") from exc
        providers[provider_id] = spec
        for alias in spec.aliases:
            aliases[alias] = provider_id
    model_aliases = {str(k): str(v) for k, v in (raw.get("model_aliases") or {}).items()}
    routes = {name: _build_route(name, entry or {}) for name, entry in (raw.get("routes") or {}).items()}
    return Catalog(providers=providers, _aliases=aliases, model_aliases=model_aliases, routes=routes)


def _build_route(name: str, entry: dict[str, Any]) -> RouteSpec:
    targets = []
    for target in entry.get("targets") or ():
        provider, slash, model = str(target.get("model", "")).partition("/")
        if not slash or not model:
            raise ConfigurationError(f"route {name!r}: each target names its model as provider/model")
        weight = float(target.get("weight", 1.0))
        if weight <= 0:
            raise ConfigurationError(f"route {name!r}: weights must be positive")
        targets.append(RouteTarget(provider, model, weight, _names(target.get("api_key_env"))))
    if not targets:
        raise ConfigurationError(f"route {name!r} has no targets")
    return RouteSpec(name, tuple(targets), tuple(entry.get("fallbacks") or ()))


def _names(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _build_provider(provider_id: str, entry: dict[str, Any]) -> ProviderSpec:
    parameters = {
        pid: ParameterSpec(id=pid, **(p or {})) for pid, p in (entry.get("parameters") or {}).items()
    }
    ambient = entry.get("ambient_credentials") or {}
    models = {}
    for name, m in (entry.get("models") or {}).items():
        m = dict(m or {})
        m["unsupported_parameters"] = frozenset(m.get("unsupported_parameters") or ())
        models[name] = ModelSpec(name=name, **m)
    return ProviderSpec(
        id=provider_id,
        name=entry.get("name", provider_id),
        adapter=entry.get("adapter", "openai"),
        base_url=entry.get("base_url"),
        base_url_env=entry.get("base_url_env"),
        endpoint_required=bool(entry.get("endpoint_required", False)),
        api_key_env=_names(entry.get("api_key_env")),
        tokenizer=entry.get("tokenizer", "o200k_base"),
        parameters=parameters,
        models=models,
        aliases=tuple(entry.get("aliases") or ()),
        options=dict(entry.get("options") or {}),
        options_env={k: _names(v) for k, v in (entry.get("options_env") or {}).items()},
        required_options=_names(entry.get("required_options")),
        ambient_credentials_name=ambient.get("name", "credentials"),
        ambient_credentials_env=_names(ambient.get("env")),
        ambient_credentials_files=_names(ambient.get("files")),
    )
