"""The one exception hierarchy of the gateway.

Every failure a client can see is a `GatewayError` with an HTTP status and an error type;
api/errors.py maps it to a JSON body once. Messages that quote a vendor are scrubbed of
credentials in one place (core/secrets.py) before anyone sees them.
"""

from __future__ import annotations

from urllib.parse import urlsplit


class GatewayError(Exception):
    """A failure with the HTTP status and error type the client receives."""

    status_code: int = 500
    error_type: str = "internal_error"
    retryable: bool = False

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def to_body(self) -> dict[str, dict[str, str | None]]:
        return error_body(self.error_type, self.message)


def error_body(error_type: str, message: str, param: str | None = None) -> dict[str, dict[str, str | None]]:
    """`{"error": {"type", "message"}}`, with OpenAI's `param` and `code` too, so that the
    OpenAI SDKs read our errors as they read OpenAI's."""
    return {"error": {"type": error_type, "message": message, "param": param, "code": error_type}}


class InternalError(GatewayError):
    """A failure of the gateway itself; the message names the request, the log has the rest."""

    status_code = 500
    error_type = "internal_error"


class ConfigurationError(GatewayError):
    """The gateway's own configuration (catalog, settings) is wrong."""

    status_code = 500
    error_type = "configuration_error"


class BadRequestError(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"


class ValidationFailedError(GatewayError):
    """Its message starts with the field it names ("parameters.temperature: must be ..."),
    which the body carries as OpenAI's `param` too."""

    status_code = 422
    error_type = "validation_error"

    def to_body(self) -> dict[str, dict[str, str | None]]:
        field, named, _ = self.message.partition(": ")
        return error_body(self.error_type, self.message, field if named and " " not in field else None)


class NotFoundError(GatewayError):
    status_code = 404
    error_type = "not_found"


class ModelNotFoundError(NotFoundError):
    """A model name that is neither provider/model, an alias nor a route."""

    error_type = "model_not_found"


class UnknownProviderError(GatewayError):
    status_code = 404
    error_type = "unknown_provider"

    def __init__(self, provider: str, valid: list[str]) -> None:
        super().__init__(f"unknown provider {provider!r}; valid providers are: {', '.join(valid)}")


class MissingCredentialsError(GatewayError):
    status_code = 401
    error_type = "missing_api_key"


class ClientKeysNotAllowedError(GatewayError):
    status_code = 403
    error_type = "client_keys_not_allowed"


class ProviderNotConfiguredError(GatewayError):
    """The provider lacks a setting (an endpoint, a project) only the operator can give."""

    status_code = 400
    error_type = "provider_not_configured"


class UpstreamError(GatewayError):
    """The vendor answered with an error, or could not be reached.

    `status_code` is what the client receives; `upstream_status` what the vendor said.
    """

    error_type = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        upstream_status: int | None = None,
        retryable: bool = False,
        headers: dict[str, str] | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message, headers=headers)
        self.status_code = status_code
        self.upstream_status = upstream_status
        self.retryable = retryable
        if error_type:
            self.error_type = error_type


class UpstreamTimeoutError(UpstreamError):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message, status_code=504, retryable=retryable, error_type="upstream_timeout")


class UpstreamUnavailableError(UpstreamError):
    """The vendor could not be reached, or broke the connection."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=502, retryable=True, error_type="upstream_unavailable")


def upstream_unreachable(exc: BaseException, *, url: str | None = None) -> UpstreamUnavailableError:
    """A connection failure, naming where it was going (scheme, host and port: never a path
    or credentials; `url` where the error does not carry it), so that an operator sees which
    endpoint or host variable to fix, and what failed."""
    where = _origin(url or _url_tried(exc))
    at = f" at {where}" if where else ""
    return UpstreamUnavailableError(f"the upstream could not be reached{at}: {type(exc).__name__}")


def _url_tried(exc: BaseException) -> str | None:
    kwargs = getattr(exc, "kwargs", None)  # botocore's errors carry the endpoint here
    if isinstance(kwargs, dict) and kwargs.get("endpoint_url"):
        return str(kwargs["endpoint_url"])
    try:
        return str(exc.request.url)  # type: ignore[attr-defined]  # httpx and the SDKs built on it
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError when no request is attached
        return None


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return None
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


# What a vendor status becomes for our client, and whether a retry may help.
_UPSTREAM_STATUS_MAP: dict[int, tuple[int, str, bool]] = {
    400: (400, "upstream_bad_request", False),
    401: (401, "upstream_authentication_error", False),
    403: (403, "upstream_permission_error", False),
    404: (404, "upstream_not_found", False),
    408: (504, "upstream_timeout", True),
    409: (409, "upstream_conflict", True),
    413: (413, "upstream_payload_too_large", False),
    422: (422, "upstream_unprocessable", False),
    429: (429, "upstream_rate_limited", True),
}


def upstream_status_error(
    upstream_status: int,
    vendor_message: str,
    *,
    retry_after: str | None = None,
) -> UpstreamError:
    """Map a vendor's HTTP error to the status our client sees (5xx becomes 502)."""
    status, error_type, retryable = _UPSTREAM_STATUS_MAP.get(
        upstream_status,
        (502, "upstream_server_error", True) if upstream_status >= 500 else (400, "upstream_error", False),
    )
    headers = {"Retry-After": retry_after} if retry_after else None
    return UpstreamError(
        f"upstream returned {upstream_status}: {vendor_message}",
        status_code=status,
        upstream_status=upstream_status,
        retryable=retryable,
        headers=headers,
        error_type=error_type,
    )


def upstream_protocol_error(exc: BaseException) -> UpstreamError:
    """The vendor's answer arrived but could not be read: a field missing, a value of a type
    its API does not send. A 502 the client may retry, never the gateway's own 500."""
    return UpstreamError(f"the upstream's answer could not be read ({type(exc).__name__})",
                         status_code=502, retryable=True, error_type="upstream_protocol_error")  # fmt: skip


def upstream_stream_error(vendor_code: str | None, vendor_message: str, *, retryable: bool = True) -> UpstreamError:
    """An error the vendor reported inside a stream it had already opened (an error event or
    object among the chunks): a 502 `upstream_stream_error`, the vendor's code and message kept.
    One shape for every adapter, so clients and the request log see the same error whichever
    vendor sent it."""
    named = f" ({vendor_code})" if vendor_code else ""
    return UpstreamError(
        f"upstream stream error{named}: {vendor_message}",
        status_code=502,
        retryable=retryable,
        error_type="upstream_stream_error",
    )
