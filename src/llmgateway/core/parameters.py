"""Validation of sampling parameters against the catalog, per provider and model."""

from __future__ import annotations

import re
from typing import Any

from llmgateway.catalog import ParameterSpec, ProviderSpec
from llmgateway.errors import ValidationFailedError

# Keys that the gateway sets itself; a client may not override them through `parameters`.
_RESERVED = frozenset({"model", "messages", "stream", "stream_options", "n", "tools", "tool_choice", "response_format"})
# Names that carry credentials: never a parameter, so never forwarded to a vendor nor stored.
_CREDENTIAL_NAME = re.compile(
    r"(?:x[-_])?(?:api[-_]?key|access[-_]?token|auth[-_]?token|authorization|secret|password|credentials?"
    r"|(?:aws[-_])?secret[-_]access[-_]key|session[-_]token)",
    re.IGNORECASE,
)


def validate_parameters(provider: ProviderSpec, model: str, parameters: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters, checked: known ones by type and range, reserved ones refused.

    Parameters the catalog does not know are passed to the vendor as they are, so a new
    vendor option needs no gateway release; the vendor's own 400 reaches the client if it
    rejects them.
    """
    if not parameters:
        return {}
    known = {p.id: p for p in provider.parameters_for(model)}
    unsupported = provider.parameters.keys() - known.keys()
    checked: dict[str, Any] = {}
    for key, value in parameters.items():
        if value is None:
            continue
        if key in _RESERVED:
            raise ValidationFailedError(f"parameters.{key}: set by the gateway, not a sampling parameter")
        if _CREDENTIAL_NAME.fullmatch(key):
            raise ValidationFailedError(f"parameters.{key}: credentials are not parameters; the key goes in 'api_key'")
        if key in unsupported:
            raise ValidationFailedError(f"parameters.{key}: model {model!r} does not accept this parameter")
        spec = known.get(key)
        checked[key] = _check(spec, value) if spec else value
    return checked


def _check(spec: ParameterSpec, value: Any) -> Any:
    field = f"parameters.{spec.id}"
    if spec.type == "stop":
        return _check_stop(field, spec, value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationFailedError(f"{field}: must be a number")
    if spec.type == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ValidationFailedError(f"{field}: must be a whole number")
        value = int(value)
    if spec.min is not None and value < spec.min:
        raise ValidationFailedError(f"{field}: must be at least {spec.min}, got {value}")
    if spec.max is not None and value > spec.max:
        raise ValidationFailedError(f"{field}: must be at most {spec.max}, got {value}")
    return value


def _check_stop(field: str, spec: ParameterSpec, value: Any) -> Any:
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationFailedError(f"{field}: must be a string or a list of strings")
    if spec.max is not None and len(value) > spec.max:
        raise ValidationFailedError(f"{field}: at most {spec.max} stop sequences, got {len(value)}")
    return value
