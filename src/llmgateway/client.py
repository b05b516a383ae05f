"""The Python client: `LLM("openai/gpt-4o-mini").chat("hi")`.

It talks HTTP to a running gateway when it has a URL (`url=` or `LLMGATEWAY_URL`), and runs
the gateway's pipeline in-process otherwise, so a script needs no server. Either way the
answer is the engine API's response, metrics included. All I/O runs on one event loop in a
background thread owned by the client, so the sync and async methods share pooled
connections, and `batch_chat` can run many prompts concurrently from plain sync code.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import time
import weakref
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, AsyncIterator, Awaitable, Iterator, Protocol, Sequence, TypeVar

import httpx
import orjson
from pydantic import ValidationError

from llmgateway.client_errors import GatewayUnreachableError, LLMGatewayError
from llmgateway.errors import GatewayError

T = TypeVar("T")

_CHAT_OPTIONS = ("session_id", "retries", "tools", "tool_choice", "response_format", "api_key")


class _Backend(Protocol):
    async def chat(self, provider: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def stream(self, provider: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...

    async def aclose(self) -> None: ...


_SSE = {"Accept": "text/event-stream"}  # the engine API's SSE framing (its default is JSON chunks)


class _HttpBackend:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout_s, limits=httpx.Limits(max_connections=256))

    async def chat(self, provider: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._client.post(f"/api/engine/chat/{provider}", json=body)
        except httpx.TransportError as exc:
            raise GatewayUnreachableError(self.url, type(exc).__name__) from None
        if response.status_code != 200:
            raise _error_of(response.status_code, response.content)
        return response.json()

    async def stream(self, provider: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        try:
            async with self._client.stream("POST", f"/api/engine/chat/{provider}", json=body, headers=_SSE) as response:
                if response.status_code != 200:
                    raise _error_of(response.status_code, await response.aread())
                event = "message"
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data = line[6:]
                        if event == "error":
                            raise _error_of(502, data.encode())
                        if data != "[DONE]":
                            yield orjson.loads(data)
                    elif not line:
                        event = "message"
        except httpx.TransportError as exc:
            raise GatewayUnreachableError(self.url, type(exc).__name__) from None

    async def aclose(self) -> None:
        await self._client.aclose()


def _error_of(status: int, content: bytes) -> LLMGatewayError:
    try:
        error = orjson.loads(content)["error"]
        return LLMGatewayError(status, error.get("type", "error"), error.get("message", ""))
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return LLMGatewayError(status, "error", content.decode(errors="replace")[:500])


class _InProcessBackend:
    """The gateway's own pipeline, started on first use in this process."""

    def __init__(self) -> None:
        from llmgateway.catalog import load_catalog
        from llmgateway.core.cache import response_cache
        from llmgateway.core.gateway import Gateway
        from llmgateway.providers.registry import AdapterRegistry
        from llmgateway.settings import get_settings
        from llmgateway.tracking.tracker import Tracker

        settings = get_settings()
        self._tracker = Tracker(settings)
        # in-process: a memory cache when one is configured (a Redis one is the servers')
        cache = response_cache(settings, None) if settings.cache == "memory" else None
        self._gateway = Gateway(settings, load_catalog(settings.catalog), AdapterRegistry(settings), self._tracker, cache=cache)
        self._started = False

    async def _ready(self) -> None:
        if not self._started:
            self._started = True
            await self._tracker.start()

    async def _call(self, provider: str, body: dict[str, Any]):  # type: ignore[no-untyped-def]
        from llmgateway.api.engine import engine_request
        from llmgateway.api.schemas import EngineChatBody
        from llmgateway.vocabulary.requests import Origin

        origin = Origin("client", None, time.monotonic())
        await self._ready()
        request = await engine_request(self._gateway, provider, EngineChatBody.model_validate(body), origin)
        return await self._gateway.start(request)

    async def chat(self, provider: str, body: dict[str, Any]) -> dict[str, Any]:
        from llmgateway.api.engine import engine_response

        with _as_client_errors():
            call = await self._call(provider, body)
            return engine_response(await call.complete())

    async def stream(self, provider: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        from llmgateway.api.engine import EngineChunks
        from llmgateway.api.sse import guarded_chunks, open_stream

        with _as_client_errors():
            call = await self._call(provider, body)
            output, first = await open_stream(call)
            async for chunk in guarded_chunks(call, output, first, EngineChunks()):
                yield chunk

    async def aclose(self) -> None:
        await self._tracker.close()
        await self._gateway.aclose()


@contextmanager
def _as_client_errors() -> Iterator[None]:
    """In-process failures as the same `LLMGatewayError`s the HTTP mode raises."""
    try:
        yield
    except GatewayError as exc:
        raise LLMGatewayError(exc.status_code, exc.error_type, exc.message) from None
    except ValidationError as exc:
        raise LLMGatewayError(422, "validation_error", str(exc)) from None


class _LoopThread:
    """An event loop in a daemon thread, where all of a client's I/O runs."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="llmgateway-client", daemon=True)
        self._thread.start()

    def submit(self, coroutine: Awaitable[T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[arg-type]

    def run(self, coroutine: Awaitable[T]) -> T:
        return self.submit(coroutine).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class LLM:
    """One model of one provider, named `provider/model`; parameters given here are defaults."""

    def __init__(self, model: str, *, url: str | None = None, timeout_s: float = 600.0, **parameters: Any) -> None:
        provider, slash, name = model.partition("/")
        if not slash or not name:
            raise ValueError(f"name the model as provider/model, e.g. openai/gpt-4o-mini (got {model!r})")
        self.provider, self.model = provider, name
        self.url = url or os.environ.get("LLMGATEWAY_URL") or None
        self.parameters = parameters
        self._timeout_s = timeout_s
        self._loop: _LoopThread | None = None
        self._backend: _Backend | None = None
        atexit.register(_close_if_alive, weakref.ref(self))

    # -- plumbing ---------------------------------------------------------------------------
    def _runner(self) -> _LoopThread:
        if self._loop is None:
            self._loop = _LoopThread()
            self._backend = self._loop.run(self._make_backend())
        return self._loop

    async def _make_backend(self) -> _Backend:
        return _HttpBackend(self.url, self._timeout_s) if self.url else _InProcessBackend()

    def _body(self, chat_input: str | list[dict[str, Any]], is_stream: bool, options: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "chat_input": chat_input, "is_stream": is_stream}
        parameters = {**self.parameters, **(options.pop("parameters", None) or {})}
        for key in _CHAT_OPTIONS:
            if key in options:
                body[key] = options.pop(key)
        parameters.update(options)  # anything else is a sampling parameter: temperature=0.2
        if parameters:
            body["parameters"] = parameters
        return body

    # -- chat ---------------------------------------------------------------------------------
    def chat(self, chat_input: str | list[dict[str, Any]], *, is_stream: bool = False, **options: Any) -> Any:
        """The engine response (a dict); with is_stream=True, an iterator of its chunks."""
        runner = self._runner()
        body = self._body(chat_input, is_stream, options)
        assert self._backend is not None
        if is_stream:
            return self._iterate(runner, self._backend.stream(self.provider, body))
        return runner.run(self._backend.chat(self.provider, body))

    async def achat(self, chat_input: str | list[dict[str, Any]], *, is_stream: bool = False, **options: Any) -> Any:
        """As `chat`, awaitable; with is_stream=True, an async iterator of chunks."""
        runner = self._runner()
        body = self._body(chat_input, is_stream, options)
        assert self._backend is not None
        if is_stream:
            return self._aiterate(runner, self._backend.stream(self.provider, body))
        return await asyncio.wrap_future(runner.submit(self._backend.chat(self.provider, body)))

    def batch_chat(
        self,
        inputs: Sequence[str | list[dict[str, Any]]],
        *,
        max_concurrency: int = 8,
        progress: bool = True,
        **options: Any,
    ) -> list[dict[str, Any] | LLMGatewayError]:
        """Many prompts, at most `max_concurrency` at a time; results in input order.

        A failed prompt's place holds its `LLMGatewayError`: one failure does not stop the rest.
        """
        from tqdm import tqdm

        runner = self._runner()
        backend = self._backend
        assert backend is not None
        bar = tqdm(total=len(inputs), disable=not progress, desc=f"{self.provider}/{self.model}", unit="chat")

        async def run_all() -> list[dict[str, Any] | LLMGatewayError]:
            limit = asyncio.Semaphore(max_concurrency)

            async def one(chat_input: str | list[dict[str, Any]]) -> dict[str, Any] | LLMGatewayError:
                async with limit:
                    try:
                        return await backend.chat(self.provider, self._body(chat_input, False, dict(options)))
                    except LLMGatewayError as exc:
                        return exc
                    finally:
                        bar.update(1)

            return list(await asyncio.gather(*(one(i) for i in inputs)))

        try:
            return runner.run(run_all())
        finally:
            bar.close()

    @staticmethod
    def _iterate(runner: _LoopThread, chunks: AsyncIterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        try:
            while True:
                try:
                    yield runner.run(chunks.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            runner.run(chunks.aclose())  # type: ignore[attr-defined]

    @staticmethod
    async def _aiterate(runner: _LoopThread, chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        try:
            while True:
                try:
                    yield await asyncio.wrap_future(runner.submit(chunks.__anext__()))
                except StopAsyncIteration:
                    return
        finally:
            await asyncio.wrap_future(runner.submit(chunks.aclose()))  # type: ignore[attr-defined]

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        """Close connections and, in-process, drain the request log."""
        if self._loop is not None:
            if self._backend is not None:
                self._loop.run(self._backend.aclose())
            self._loop.stop()
            self._loop, self._backend = None, None

    def __enter__(self) -> "LLM":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _close_if_alive(ref: "weakref.ref[LLM]") -> None:
    """At exit, close a client the script left open, so its in-process log is drained."""
    llm = ref()
    if llm is not None:
        llm.close()
