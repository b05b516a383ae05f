"""`create_app()`: the FastAPI application, its routers and the lifetime of its parts."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, AsyncIterator

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

from llmgateway.api import (
    admin,
    anthropic_messages,
    engine,
    export,
    health,
    openai_compat,
    operations,
    responses_api,
    tracking,
)
from llmgateway.api.access import AccessMiddleware
from llmgateway.api.banner import startup_banner
from llmgateway.api.chat_routes import ChatRoutes
from llmgateway.api.docs import install_docs
from llmgateway.api.draining import drain_on_sigterm
from llmgateway.api.errors import install_error_handlers
from llmgateway.api.heap import settle_after_start
from llmgateway.api.intake import RequestIntakeMiddleware
from llmgateway.api.schemas import EngineChatBody
from llmgateway.catalog import load_catalog
from llmgateway.core.cache import response_cache
from llmgateway.core.gateway import Gateway
from llmgateway.core.governance import governance_of
from llmgateway.core.secrets import scrub_logs
from llmgateway.observability.access_log import AccessLogMiddleware
from llmgateway.observability.prometheus import GatewayMetrics
from llmgateway.observability.tracing import build_tracer
from llmgateway.providers.registry import AdapterRegistry
from llmgateway.settings import Settings, get_settings
from llmgateway.shared import redis_state
from llmgateway.tracking.tracker import Tracker
from llmgateway.version import __version__

if TYPE_CHECKING:  # the tracing SDK is imported only when tracing is on
    from opentelemetry.sdk.trace.export import SpanExporter


async def warm_up_then_settle(gateway: Gateway, readiness: dict[str, list[str]], tracker: Tracker) -> None:
    """Load the configured providers, and the request log's async engine where virtual keys
    read the database on every request, then freeze what start-up left alive (heap.py)."""
    await gateway.warm_up(readiness)
    if gateway.governance is not None and tracker.store is not None:
        await tracker.store.prepare_reads()
    settle_after_start()


def create_app(settings: Settings | None = None, span_exporter: SpanExporter | None = None) -> FastAPI:
    """The application; `span_exporter` replaces the OTLP exporter when tracing is on."""
    settings = settings or get_settings()
    catalog = load_catalog(settings.catalog)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tracker = Tracker(settings)
        await tracker.start()
        metrics = GatewayMetrics()
        metrics.watch_tracking(tracker.gauges())
        tracer, tracer_provider = build_tracer(settings.otel_enabled, span_exporter)
        shared = redis_state(settings)
        cache = response_cache(settings, shared.cache_store if shared else None)
        governance = governance_of(settings, tracker, shared.rate_limiter if shared else None, shared.ledger if shared else None)
        gateway = Gateway(settings, catalog, AdapterRegistry(settings), tracker, observers=[metrics], tracer=tracer,
                          shared_cooldowns=shared.cooldowns if shared else None, cache=cache, governance=governance)  # fmt: skip
        if shared is not None:
            await shared.cooldowns.start(gateway.cooldowns.mirror)
        scrub_logs(gateway.scrubber)
        app.state.gateway = gateway
        app.state.tracker = tracker
        app.state.shared = shared
        app.state.metrics = metrics
        app.state.started_at = time.monotonic()
        readiness = gateway.readiness_at_start()  # read once: for the banner and the warm-up
        if settings.log_level in ("debug", "info"):
            print(startup_banner(gateway, readiness, settings.host, settings.port), file=sys.stderr, flush=True)
        app.state.warming = warming = asyncio.create_task(warm_up_then_settle(gateway, readiness, tracker), name="llmgateway-warm-up")
        stop_draining = drain_on_sigterm(app.state, settings.drain_s)
        try:
            yield
        finally:
            stop_draining()
            warming.cancel()
            # uvicorn has stopped accepting and let in-flight requests finish, or, past the grace,
            # cancelled them without waiting: their calls end (and are recorded) first, then
            # the log is drained.
            await gateway.calls_ended(timeout_s=5.0)
            if cache is not None:
                await cache.writes_done()
            await tracker.close()
            await gateway.aclose()
            if shared is not None:
                await shared.aclose()
            if tracer_provider is not None:
                tracer_provider.shutdown()

    app = FastAPI(
        title="llmgateway",
        version=__version__,
        description="One API in front of every LLM vendor, with honest metrics and a request log.",
        lifespan=lifespan,
        docs_url=None,  # served from the package's files by install_docs, not from a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    # Added innermost first: the chat routes, then access; intake stamps and bounds; CORS answers preflights.
    app.add_middleware(ChatRoutes, routes=[
        (re.compile(r"/api/engine/chat/(?P<provider>[^/]+)"), EngineChatBody, engine.chat),
        (re.compile(r"/v1/chat/completions"), openai_compat.ChatCompletionBody, openai_compat.chat_completions),
    ])  # fmt: skip
    if settings.master_key is not None:
        app.add_middleware(AccessMiddleware, master_key=settings.master_key.get_secret_value())
    app.add_middleware(
        RequestIntakeMiddleware, max_body_bytes=settings.max_body_bytes, body_timeout_s=settings.body_timeout_s
    )
    app.add_middleware(anthropic_messages.AnthropicErrorShape)  # outside access and intake: their refusals too
    if settings.access_log:
        app.add_middleware(AccessLogMiddleware, include_contents=settings.access_log_contents)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["x-llmgateway-request-id", "x-llmgateway-latency-s", "x-llmgateway-cost-usd"],
        )
    app.include_router(engine.router)
    app.include_router(openai_compat.router)
    app.include_router(anthropic_messages.router)
    app.include_router(responses_api.router)
    app.include_router(export.router)
    app.include_router(health.router)
    app.include_router(tracking.router)
    app.include_router(operations.router)
    app.include_router(admin.router)
    # The dashboard: static files of the package, reading the APIs above (no build step).
    install_docs(app)
    app.add_api_route("/", lambda: RedirectResponse("/dashboard/"), include_in_schema=False)
    app.add_api_route("/dashboard", lambda: RedirectResponse("/dashboard/"), include_in_schema=False)
    app.mount("/dashboard/", StaticFiles(packages=[("llmgateway", "dashboard")], html=True), name="dashboard")
    return app
