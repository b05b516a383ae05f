"""`GET /health`: cheap, touches nothing upstream, always answers while the process serves."""

from __future__ import annotations

import time
from dataclasses import asdict

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from llmgateway.version import __version__

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness of the gateway")
async def health(request: Request) -> dict:
    state = request.app.state
    tracking = state.tracker.stats()
    return {
        # "healthy" while the process serves, as the reference's clients require to connect;
        # `degraded` says that the request log is not keeping up (see `tracking`)
        "status": "healthy",
        "degraded": tracking is not None and tracking.degraded,
        "version": __version__,
        "uptime_s": round(time.monotonic() - state.started_at, 3),
        "providers": state.gateway.catalog.provider_ids(),
        # deployments out of rotation now; with Redis, the fleet's (each instance mirrors it)
        "cooling_deployments": state.gateway.cooldowns.cooling(),
        "tracking": None if tracking is None else {**asdict(tracking), "degraded": tracking.degraded},
    }


@router.get("/health/live", summary="Liveness for orchestrators: the process answers")
async def live() -> dict:
    return {"status": "live"}


@router.get("/health/ready", summary="Readiness for orchestrators: the request log and shared state answer")
async def ready(request: Request) -> JSONResponse:
    """200 when this instance can serve as promised: its request log's database answers
    (migrated: the gateway does not start otherwise) and, when configured, Redis answers.
    503 otherwise, with what is down, so a load balancer sends traffic elsewhere meanwhile;
    503 `warming` until the warm-up has loaded the configured providers (a request that came
    sooner would wait for their SDKs); 503 `draining` from SIGTERM on, with LLMGATEWAY_DRAIN_S."""
    state = request.app.state
    if state.draining:  # SIGTERM came: the load balancer should stop sending (LLMGATEWAY_DRAIN_S)
        return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
    if not state.warming.done():
        return JSONResponse({"status": "warming", "checks": {}}, status_code=503)
    store = state.tracker.store
    checks = {"database": None if store is None else await store.reachable(timeout_s=1.0)}
    if state.shared is not None:
        checks["redis"] = await state.shared.reachable()
    ok = all(value is not False for value in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503)
