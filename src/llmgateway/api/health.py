"""`GET /health`: cheap, touches nothing upstream, always answers while the process serves."""

from __future__ import annotations

import time
from dataclasses import asdict

from fastapi import APIRouter, Request

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
        "tracking": None if tracking is None else {**asdict(tracking), "degraded": tracking.degraded},
    }
