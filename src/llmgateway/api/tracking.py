"""The request log's API, on the reference tracker's paths: logs, sessions, stats.

Each read first waits for the records queued so far to be written, so a client that reads
right after a call sees it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from llmgateway.api.export import csv_response
from llmgateway.core.errors import GatewayError, ValidationFailedError
from llmgateway.tracking.store import LogFilter, RequestStore
from llmgateway.tracking.tracker import Tracker

router = APIRouter(prefix="/api/tracking", tags=["tracking"])


class TrackingDisabledError(GatewayError):
    status_code = 503
    error_type = "tracking_disabled"


async def _store(request: Request) -> RequestStore:
    tracker: Tracker = request.app.state.tracker
    if tracker.store is None:
        raise TrackingDisabledError("the request log is off (LLMGATEWAY_TRACKING_ENABLED=false)")
    await tracker.flush()
    return tracker.store


def parse_instant(value: str | None, name: str) -> float | None:
    """Unix seconds, or an ISO 8601 date-time (UTC when it names no zone)."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailedError(f"{name}: expected unix seconds or an ISO 8601 date-time, got {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


@router.get("/logs", summary="The request log, newest first")
async def logs(
    request: Request,
    skip: int = Query(default=0, ge=0, le=2**62),
    limit: int = Query(default=100, ge=1, le=1000),
    provider: str | None = None,
    model: str | None = None,
    session_id: str | None = None,
    status: Literal["success", "error", "cancelled"] | None = None,
    since: str | None = Query(default=None, description="unix seconds or ISO 8601"),
    until: str | None = Query(default=None, description="unix seconds or ISO 8601"),
    format: Literal["json", "csv"] = "json",
) -> Any:
    store = await _store(request)
    where = LogFilter(provider, model, session_id, status, parse_instant(since, "since"), parse_instant(until, "until"))
    rows = await store.logs(where, skip, limit)
    if format == "csv":
        return await csv_response(rows, "llmgateway-logs.csv")
    return rows


@router.get("/logs/{session_id}", summary="The log of one session, newest first")
async def session_logs(request: Request, session_id: str, limit: int = Query(default=1000, ge=1, le=1000)) -> Any:
    store = await _store(request)
    return await store.logs(LogFilter(session_id=session_id), 0, limit)


@router.get("/session/{session_id}", summary="The turns of a session, in order")
async def session(request: Request, session_id: str) -> dict[str, Any]:
    store = await _store(request)
    rows = await store.logs(LogFilter(session_id=session_id, status="success"), 0, 1000, oldest_first=True)
    turns = [
        {
            "id": r["id"],
            "timestamp": r["created_at"],
            "provider": r["provider"],
            "model": r["model_reported"] or r["model_requested"],
            "chat_input": r["chat_input"],
            "chat_output": r["chat_output"],
            "tool_calls": r["tool_calls"],
        }
        for r in rows
    ]
    return {"session_id": session_id, "turns": turns}


@router.get("/stats", summary="Requests, errors, latency and cost per provider or model")
async def stats(
    request: Request,
    group_by: Literal["provider", "model"] = "provider",
    since: str | None = Query(default=None, description="unix seconds or ISO 8601"),
    provider: str | None = None,
) -> list[dict[str, Any]]:
    store = await _store(request)
    return await store.stats(group_by, LogFilter(provider=provider, since=parse_instant(since, "since")))


@router.get("/timeseries", summary="Requests, errors, tokens and cost over time")
async def timeseries(
    request: Request,
    since: str | None = Query(default=None, description="unix seconds or ISO 8601"),
    until: str | None = Query(default=None, description="unix seconds or ISO 8601"),
    bucket_s: float = Query(default=300, ge=1, le=86_400 * 31),
    provider: str | None = None,
    model: str | None = None,
) -> list[dict[str, Any]]:
    store = await _store(request)
    where = LogFilter(provider, model, None, None, parse_instant(since, "since"), parse_instant(until, "until"))
    return await store.timeseries(where, bucket_s)
