"""Every exception mapped, once, to `{"error": {"type", "message"}}` and its HTTP status."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from llmgateway.errors import BadRequestError, GatewayError, ValidationFailedError, error_body

logger = logging.getLogger("llmgateway.api")


def error_response(
    status: int, error_type: str, message: str, headers: dict[str, str] | None = None, param: str | None = None
) -> Response:
    body = orjson.dumps(error_body(error_type, message, param))
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _field_name(location: tuple | list) -> str:
    parts = [str(p) for p in location if p != "body"]
    return ".".join(parts) or "body"


async def _gateway_error(_: Request, exc: GatewayError) -> Response:
    if exc.status_code >= 500 and not exc.headers:
        logger.warning("request failed: %s (%s)", exc.error_type, exc.message)
    return Response(orjson.dumps(exc.to_body()), status_code=exc.status_code, media_type="application/json",
                    headers=exc.headers)  # fmt: skip


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return _refused(request, InvalidJsonError("the request body is not valid JSON"))
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    field = _field_name(first.get("loc", ()))
    message = f"{field}: {first.get('msg', 'invalid value')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return _refused(request, ValidationFailedError(message), param=field)


# The routes whose requests the request log records, refused ones too: (path prefix, surface).
_RECORDED_ROUTES: tuple[tuple[str, str | None], ...] = (("/api/engine/chat/", "engine"), ("/v1/chat/completions", "openai"), ("/v1/embeddings", "openai"),
                    ("/v1/messages/count_tokens", None), ("/v1/messages", "anthropic"), ("/v1/responses", "responses"))  # fmt: skip


class InvalidJsonError(BadRequestError):
    error_type = "invalid_json"


def _refused(request: Request, error: GatewayError, param: str | None = None) -> Response:
    """The error answer of a body the edge refused; a chat or embedding request is recorded."""
    from llmgateway.api.intake import origin_of  # intake answers its own refusals with error_response

    path = request.url.path
    surface = next((surface for prefix, surface in _RECORDED_ROUTES if path.startswith(prefix)), None)
    gateway = getattr(request.app.state, "gateway", None)
    if surface is not None and gateway is not None:
        provider = request.path_params.get("provider", "unknown")  # /v1 names it in the body it refused
        gateway.record_refusal(error, origin_of(request, surface), provider, "unknown", None)
    return error_response(error.status_code, error.error_type, error.message, param=param)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        # FastAPI's own JSON parsing failed: malformed, or nested past what the parser takes
        return _refused(request, InvalidJsonError(
            "the request body could not be parsed as JSON (malformed, or nested too deeply)"))
    error_type = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, error_type, str(exc.detail), getattr(exc, "headers", None))


async def _unexpected_error(_: Request, exc: Exception) -> Response:
    logger.exception("unexpected error")
    return error_response(500, "internal_error", "the gateway failed unexpectedly; see its log")


async def answer_to(request: Request, exc: GatewayError | RequestValidationError | StarletteHTTPException) -> Response:
    """The answer the installed handlers give `exc`, for the routes served outside FastAPI's
    handler (chat_routes.py)."""
    if isinstance(exc, GatewayError):
        return await _gateway_error(request, exc)
    if isinstance(exc, RequestValidationError):
        return await _validation_error(request, exc)
    return await _http_error(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)
