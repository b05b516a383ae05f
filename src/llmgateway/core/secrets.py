"""Credentials kept out of every message a client, the request log, a log line or a metric
can see: the one place where vendor text is scrubbed.

Vendors quote keys back in their errors ("Incorrect API key provided: sk-proj-****abcd"),
whole, masked, cut or URL-encoded, and libraries put URLs and headers into exception text.
The scrubber knows the request's key and every credential the server holds, and redacts
any token that shares `_PARTIAL_CHARS` consecutive characters with one of them (after
URL-decoding), and anything shaped like a known kind of key or bearer token.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Iterable
from urllib.parse import unquote

from llmgateway.catalog import Catalog
from llmgateway.errors import GatewayError
from llmgateway.settings import Settings

REDACTED = "[redacted]"
_PARTIAL_CHARS = 10  # a run this long of a secret is a leak of it
_MIN_SECRET_CHARS = 12  # shorter values (ports, regions, flags) are not treated as secrets

# Candidate tokens: what keys, tokens and their URL-encodings are made of (masks included).
_TOKEN = re.compile(r"[A-Za-z0-9_\-.~+/=%*]{" + str(_PARTIAL_CHARS) + ",}")
# Key shapes a vendor may quote even when the gateway does not hold the key.
_KEY_SHAPED = re.compile(
    r"\b(?:sk|pk|rk|key|api[-_]?key)[-_][A-Za-z0-9_*\-.]{3,}"  # OpenAI, Anthropic and many others
    r"|\bAIza[A-Za-z0-9_*\-]{4,}"  # Google API keys
    r"|\bya29\.[A-Za-z0-9_*\-.]+"  # Google OAuth access tokens (Vertex service accounts)
    r"|\b(?:AKIA|ASIA)[A-Z0-9*]{8,}"  # AWS access key ids
    r"|(?<=[Bb]earer )[A-Za-z0-9_\-.~+/=*]{8,}",
    re.IGNORECASE,
)
# Variables whose values are credentials, whatever the vendor.
CREDENTIAL_VARIABLE = re.compile(r"(?:API_KEY|_KEY|SECRET|TOKEN|PASSWORD|CREDENTIALS?)(?:_|$)", re.IGNORECASE)


def server_credentials(settings: Settings, catalog: Catalog) -> list[str]:
    """Every credential the server holds: the variables the catalog names for keys, any
    variable named like a credential (AWS secrets and session tokens among them), the master key."""
    names = {name for name in settings.vendor_variable_names() if CREDENTIAL_VARIABLE.search(name)}
    for provider_id in catalog.provider_ids():
        names.update(catalog.provider(provider_id).api_key_env)  # type: ignore[union-attr]
    for route in catalog.routes.values():
        for target in route.targets:
            names.update(target.api_key_env)
    values = [settings.vendor_value(name) for name in sorted(names)]
    if settings.master_key is not None:
        values.append(settings.master_key.get_secret_value())
    return [value for value in values if value]


def _runs(secret: str) -> set[str]:
    return {secret[i : i + _PARTIAL_CHARS] for i in range(len(secret) - _PARTIAL_CHARS + 1)}


class SecretScrubber:
    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._runs: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= _MIN_SECRET_CHARS:
                self._runs |= _runs(secret)

    def scrub(self, text: str, extra: Iterable[str | None] = ()) -> str:
        """`text` with every known secret (and `extra` ones, such as the request's key) redacted."""
        runs = self._runs
        extra_runs = set().union(*(_runs(s) for s in extra if s and len(s) >= _MIN_SECRET_CHARS))
        if extra_runs:
            runs = runs | extra_runs

        def redact(match: re.Match[str]) -> str:
            token = match.group()
            for candidate in {token, unquote(token)}:
                if any(candidate[i : i + _PARTIAL_CHARS] in runs for i in range(len(candidate) - _PARTIAL_CHARS + 1)):
                    return REDACTED
            return token

        if runs:
            text = _TOKEN.sub(redact, text)
        return _KEY_SHAPED.sub(REDACTED, text)

    def scrub_error(self, error: GatewayError, extra: Iterable[str | None] = ()) -> GatewayError:
        """The error, its message scrubbed in place (before a client, record or log sees it)."""
        error.message = self.scrub(error.message, extra)
        error.args = (error.message,)
        return error


class ScrubbingFilter(logging.Filter):
    """Scrubs every log record a handler writes (message, arguments and traceback).

    A record keeps its arguments, each scrubbed, rather than being flattened into its
    message: a formatter may read them (uvicorn's access formatter unpacks the client, method,
    path, version and status from them, and fails on a record without). Only a secret that no
    single argument holds (split across two) flattens the record."""

    def __init__(self, scrubber: SecretScrubber) -> None:
        super().__init__()
        self._scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self._scrubber.scrub(message)
        if scrubbed != message:
            if not (isinstance(record.args, tuple) and self._scrubbed_in_place(record, scrubbed)):
                record.msg, record.args = scrubbed, None
        if record.exc_info:
            record.exc_text = self._scrubber.scrub("".join(traceback.format_exception(*record.exc_info)).rstrip())
            record.exc_info = None
        return True

    def _scrubbed_in_place(self, record: logging.LogRecord, scrubbed: str) -> bool:
        """Scrub the record's format and each argument; whether it now reads as `scrubbed`."""
        record.msg = self._scrubber.scrub(str(record.msg))
        record.args = tuple(self._scrubbed_argument(arg) for arg in record.args or ())
        try:
            return record.getMessage() == scrubbed
        except (TypeError, ValueError):  # an argument's text where the format wants a number
            return False

    def _scrubbed_argument(self, argument: object) -> object:
        """The argument as it was when it holds no secret (a number stays a number for `%d`),
        else its text, scrubbed."""
        text = argument if isinstance(argument, str) else str(argument)
        scrubbed = self._scrubber.scrub(text)
        return argument if scrubbed == text else scrubbed


def scrub_logs(scrubber: SecretScrubber) -> None:
    """Put the scrubbing filter on every handler the process logs through (the root's,
    uvicorn's, and the last-resort handler that prints warnings when none is configured)."""
    handlers = [*logging.getLogger().handlers, *([logging.lastResort] if logging.lastResort else [])]
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "llmgateway"):
        handlers.extend(logging.getLogger(name).handlers)
    for handler in handlers:
        if not any(isinstance(f, ScrubbingFilter) for f in handler.filters):
            handler.addFilter(ScrubbingFilter(scrubber))
