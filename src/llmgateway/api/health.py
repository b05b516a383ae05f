"""`GET /health`: cheap, touches nothing upstream, always answers while the process serves."""

from __future__ import annotations

import time
from dataclasses import asdict

from fastapi import APIRouter, Request

from llmgateway import __version__

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness of the gateway")
async def health(request: Request) -> dict:
    state = request.app.state
    tracking = state.tracker.stats()
    return {
        "status": "degraded" if tracking is not None and tracking.degraded else "healthy",
        "version": __version__,
        "uptime_s": round(time.monotonic() - state.started_at, 3),
        "providers": state.gateway.catalog.provider_ids(),
        "tracking": None if tracking is None else {**asdict(tracking), "degraded": tracking.degraded},
    }
