"""One POST to a vendor's HTTP endpoint on a pooled aiohttp session, read as it arrives.

The hot path of the adapters whose SDK is a thin HTTP client (openai, anthropic): the SDK
prepares the URL, auth and headers once per client (stainless.py), and each call is then one
request here, without the SDK's per-request machinery or its bridge from aiohttp into
httpx2's response, which together were a fifth of a request's CPU (bench/profile.md).

Redirects are not followed: a vendor's API answers where it is called, and a key must not
travel to wherever a redirect points. The vendor's errors and the transport's map here, once.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, AsyncIterator, Iterator, Mapping
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
import orjson

from llmgateway.errors import (
    GatewayError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    upstream_status_error,
    upstream_unreachable,
)
from llmgateway.providers.pool import tls_context

# What an error body may be read up to, for its message.
_ERROR_BODY_BYTES = 64 * 1024
# URLs whose proxy a session keeps, before it looks them up again.
_MAX_URLS = 256


class UpstreamSession:
    """A provider's connection pool, made on first use (an aiohttp session needs the running
    loop). The connect bound is for opening a connection, the read bound an idle gap between
    bytes (None: unbounded, as in httpx): the gateway enforces each attempt's deadline itself.

    Proxies come from the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), as the SDKs' own
    clients take them, looked up once per URL: aiohttp's `trust_env` would read them and
    ~/.netrc again on every request, in a thread (a sixth to a quarter of a request's CPU)."""

    def __init__(self, connect_timeout_s: float | None, read_timeout_s: float | None) -> None:
        self._timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout_s, sock_read=read_timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=2000, keepalive_timeout=60, ssl=tls_context())
            # No cookie jar: a cookie a vendor set on one client's call must not ride along
            # on another's (and no cookie filtering on every request).
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    def _proxy_for(self, url: str) -> str | None:
        if url not in self._proxies:
            if len(self._proxies) >= _MAX_URLS:
                self._proxies.clear()
            parts = urlsplit(url)
            bypass = parts.hostname is None or proxy_bypass(parts.hostname)
            self._proxies[url] = None if bypass else getproxies().get(parts.scheme)
        return self._proxies[url]

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> aiohttp.ClientResponse:
        """POST `body`; the vendor's answer when it is a success (its body unread: the caller
        releases it), else the vendor's error as ours."""
        with transport_errors(url):
            proxy = self._proxy_for(url)
            response = await self._pool().post(url, data=body, headers=headers, allow_redirects=False, proxy=proxy)
            if response.status < 300:
                return response
            if response.status < 400:
                response.release()
                raise UpstreamUnavailableError(f"the upstream answered {response.status}, a redirect, which the gateway does not follow")
            try:
                content = await response.content.read(_ERROR_BODY_BYTES)
            finally:
                response.release()
        raise upstream_status_error(
            response.status,
            vendor_message(content) or f"HTTP {response.status}",
            retry_after=response.headers.get("retry-after"),
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


async def chunks_of(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The answer's body in the chunks the socket gives; the response is released at the end."""
    try:
        with transport_errors(str(response.url)):
            async for chunk in response.content.iter_any():
                yield chunk
    finally:
        response.release()


async def json_of(response: aiohttp.ClientResponse) -> Any:
    """The answer's body as JSON; the response is released."""
    try:
        with transport_errors(str(response.url)):
            content = await response.read()
    finally:
        response.release()
    return json_data(content)


def json_data(text: str | bytes) -> Any:
    """A vendor's JSON (a body, an event's data); what is not JSON is an unavailable upstream."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise UpstreamUnavailableError("the upstream sent a body that is not JSON") from None


@contextmanager
def transport_errors(url: str) -> Iterator[None]:
    """aiohttp's errors as the gateway's: a timeout is a timeout, an answer that is not HTTP
    is an unavailable upstream, the rest an unreachable one, named by where it was going."""
    try:
        yield
    except GatewayError:
        raise
    except (aiohttp.ServerTimeoutError, TimeoutError):
        raise UpstreamTimeoutError("the upstream did not answer in time") from None
    except (aiohttp.ClientResponseError, aiohttp.http_exceptions.HttpProcessingError):
        raise UpstreamUnavailableError("the upstream's answer could not be read as HTTP") from None
    except aiohttp.ClientError as exc:
        raise upstream_unreachable(exc, url=url) from None


def vendor_message(content: bytes) -> str | None:
    """The message of a vendor's error body ({"message"} or {"error": {"message"}}), else
    the start of the body as it came."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        message = (error if isinstance(error, dict) else body).get("message")
        if message:
            return str(message)
    return content.decode(errors="replace").strip()[:500] or None
