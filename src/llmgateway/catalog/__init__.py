"""The provider and model catalog: what each provider offers, costs and accepts."""

from llmgateway.catalog.loader import (
    Catalog,
    ModelSpec,
    ParameterSpec,
    ProviderSpec,
    RouteSpec,
    RouteTarget,
    load_catalog,
)

__all__ = ["Catalog", "ModelSpec", "ParameterSpec", "ProviderSpec", "RouteSpec", "RouteTarget", "load_catalog"]
