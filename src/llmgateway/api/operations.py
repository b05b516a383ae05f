"""`GET /metrics`: the Prometheus exposition of the gateway's metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from llmgateway.observability.prometheus import CONTENT_TYPE

router = APIRouter(tags=["operations"])


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE)
