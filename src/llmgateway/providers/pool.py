"""Long-lived vendor SDK clients, one per endpoint and key, sharing one HTTP connection pool.

Building an SDK client without a shared HTTP client costs 25-40 ms (a new SSL context), and
a client per request would also throw away its keep-alive connections. Clients are made
lazily on first use and kept in a bounded LRU, so a gateway that sees many client-supplied
keys does not grow without bound.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import OrderedDict
from functools import cache
from typing import Awaitable, Callable, Generic, Hashable, TypeVar

import httpx2

ClientT = TypeVar("ClientT")


@cache
def tls_context() -> ssl.SSLContext:
    """The process's one TLS context (httpx2's default, on certifi's CA bundle), shared by every
    provider's HTTP client and pooled session: each context reads and parses the bundle again
    (17-36 ms on this machine, ~1 MiB), and a context is made to be shared."""
    return httpx2.create_ssl_context()


def shared_http_client(connect_timeout_s: float, read_timeout_s: float) -> httpx2.AsyncClient:
    """The one HTTP client every SDK client of a provider rides on (the openai and anthropic
    adapters send on a session of their own, with its bounds: stainless.py).

    The read timeout is an idle gap between bytes, not a deadline: the gateway enforces
    the total deadline itself.
    """
    return httpx2.AsyncClient(
        verify=tls_context(),
        timeout=httpx2.Timeout(read_timeout_s, connect=connect_timeout_s),
        limits=httpx2.Limits(max_connections=2000, max_keepalive_connections=200, keepalive_expiry=60),
        follow_redirects=True,
    )


class ClientPool(Generic[ClientT]):
    """An LRU of SDK clients keyed by (endpoint, key, ...).

    Clients that share the provider's one HTTP client own nothing to close when evicted;
    clients with a connection pool of their own (Ollama's) are closed by `close`, on
    eviction and by `aclose`.
    """

    def __init__(
        self,
        factory: Callable[..., ClientT],
        max_clients: int = 256,
        close: Callable[[ClientT], Awaitable[None]] | None = None,
    ) -> None:
        self._factory = factory
        self._max = max_clients
        self._close = close
        self._clients: OrderedDict[Hashable, ClientT] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, *key: Hashable) -> ClientT:
        client = self._clients.get(key)
        if client is None:
            client = self._factory(*key)
            self._clients[key] = client
            if len(self._clients) > self._max:
                _, evicted = self._clients.popitem(last=False)
                if self._close is not None:
                    task = asyncio.get_running_loop().create_task(self._close(evicted))
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)
        else:
            self._clients.move_to_end(key)
        return client

    async def aclose(self) -> None:
        """Close every client the pool holds (when it owns something to close)."""
        clients, self._clients = list(self._clients.values()), OrderedDict()
        if self._close is not None:
            for client in clients:
                await self._close(client)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
