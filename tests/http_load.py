"""Many requests at once from the test process, over aiohttp.

httpx's async pool hands a freed connection to its waiters with a scan of all of them, so a
burst of hundreds of requests queued on a few dozen connections costs the test process seconds
of CPU (500 requests on 64 connections: ~6 s, against ~0.15 s here), which on a small machine
is taken from the gateways under test. The load and exactness tests send their bursts here.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Mapping

import aiohttp
from multidict import CIMultiDictProxy


@dataclass(frozen=True)
class Answer:
    """One answer, read whole: what the tests read of an `httpx.Response`."""

    status_code: int
    headers: CIMultiDictProxy[str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode()

    def json(self) -> Any:
        return json.loads(self.content)


@asynccontextmanager
async def load_session(connections: int, timeout_s: float = 60) -> AsyncIterator[aiohttp.ClientSession]:
    """A session of at most `connections` keep-alive connections, each request bounded by
    `timeout_s`."""
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
        yield session


async def post(session: aiohttp.ClientSession, url: str, body: Any, headers: Mapping[str, str] | None = None) -> Answer:
    """POST `body` as JSON and read the whole answer (a stream too, to its end)."""
    async with session.post(url, json=body, headers=headers) as response:
        return Answer(response.status, response.headers, await response.read())
