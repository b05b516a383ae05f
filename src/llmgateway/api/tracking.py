"""The request log's API, on the reference tracker's paths and in its shapes: logs (read,
and posted by clients), sessions and prompts as LLMstudio's tracker serves them; stats and
a timeseries beyond it.

Each read first waits for the records queued before it to be handled (at most 5 s), so a
client that reads right after a call sees it; records queued after the read began are not
waited for, so steady traffic never holds a read up.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from llmgateway.api.export import csv_response
from llmgateway.errors import GatewayError, NotFoundError, ValidationFailedError
from llmgateway.tracking.records import FLAT_METRICS, record_of_client_log
from llmgateway.tracking.reference_tables import PromptTable, SessionTable, iso
from llmgateway.tracking.storable import storable
from llmgateway.tracking.store import LogFilter, RequestStore
from llmgateway.tracking.tracker import Tracker

router = APIRouter(prefix="/api/tracking", tags=["tracking"])


class TrackingDisabledError(GatewayError):
    status_code = 503
    error_type = "tracking_disabled"


async def request_store(request: Request) -> RequestStore:
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
    store = await request_store(request)
    where = LogFilter(provider, model, session_id, status, parse_instant(since, "since"), parse_instant(until, "until"))
    rows = [log_default(row) for row in await store.logs(where, skip, limit)]
    if format == "csv":
        return await csv_response(rows, "llmgateway-logs.csv")
    return rows


class LogDefaultCreate(BaseModel):
    """LLMstudio's `LogDefaultCreate`; clients send the whole chat result, whose `id` ties it
    to the gateway's record of that request."""

    model_config = ConfigDict(extra="allow")
    id: str | None = None
    chat_input: Any = None
    chat_output: str | None = None
    session_id: str | None = None
    context: list[dict[str, Any]] | None = None
    provider: str | None = None
    model: str | None = None
    deployment: str | None = None
    parameters: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None


@router.post("/logs", summary="Log a result (LLMstudio's tracker client); merged with the gateway's record of it")
async def post_log(request: Request, log: LogDefaultCreate) -> dict[str, Any]:
    """A result the gateway answered (same `id`) gets the client's `session_id`, and no
    second record; any other is stored as a record of surface `tracker`."""
    store = await request_store(request)
    client = request.client.host if request.client else None
    record, _ = storable(record_of_client_log(log.model_dump(), client))
    return log_default(await store.merge_client_log(record))


@router.get("/logs/{session_id}", summary="The log of one session, newest first")
async def session_logs(request: Request, session_id: str, limit: int = Query(default=1000, ge=1, le=1000)) -> Any:
    store = await request_store(request)
    return [log_default(row) for row in await store.logs(LogFilter(session_id=session_id), 0, limit)]


def log_default(row: dict[str, Any]) -> dict[str, Any]:
    """A row in the reference tracker's `LogDefault` shape (`log_id`, `created_at` as a
    date-time, `model` requested and `deployment` served, `metrics` as an object), the
    request log's own fields after it (`timestamp`: unix seconds)."""
    metrics = row.get("metrics") or {name: row.get(name) for name in FLAT_METRICS}  # rows older than the object
    shaped = {
        "log_id": row["log_id"],
        "created_at": iso(row["created_at"]),
        "chat_input": row["chat_input"],
        "chat_output": row["chat_output"],
        "session_id": row["session_id"],
        "context": row["context"],
        "provider": row["provider"],
        "model": row["model_requested"],
        "deployment": row["model_reported"],
        "parameters": row["parameters"],
        "metrics": metrics,
        "timestamp": row["created_at"],
    }
    shaped.update((key, value) for key, value in row.items() if key not in shaped and key != "metrics")
    return shaped


# -- LLMstudio's sessions and prompts ----------------------------------------------------------


async def _tables(request: Request) -> tuple[SessionTable, PromptTable]:
    store = await request_store(request)
    return SessionTable(store.engine), PromptTable(store.engine)


class SessionDefaultCreate(BaseModel):
    session_id: str = Field(max_length=256)
    chat_history: list[dict[str, Any]] | None = None
    extras: dict[str, Any] | None = None


@router.post("/session", summary="Add a session message (LLMstudio's tracker)")
async def add_session(request: Request, session: SessionDefaultCreate) -> dict[str, Any]:
    sessions, _ = await _tables(request)
    return await sessions.add(session.session_id, session.chat_history, session.extras)


@router.get("/session/{session_id}", summary="The messages of a session, oldest first (LLMstudio's tracker)")
async def get_session(request: Request, session_id: str) -> list[dict[str, Any]]:
    sessions, _ = await _tables(request)
    return await sessions.of_session(session_id)


@router.patch("/session/{message_id}", summary="Set a session message's extras (LLMstudio's tracker)")
async def set_session_extras(
    request: Request, message_id: int = Path(ge=1, le=2**63 - 1), extras: dict[str, Any] = Body(default_factory=dict)
) -> dict[str, Any]:
    sessions, _ = await _tables(request)
    row = await sessions.set_extras(message_id, extras)
    if row is None:
        raise NotFoundError(f"no session message {message_id}")
    return row


class PromptDefault(BaseModel):
    """LLMstudio's prompt, bounded as its table is."""

    prompt_id: str | None = Field(default=None, max_length=36)
    config: dict[str, Any] | None = {}
    prompt: str | None = None
    is_active: bool | None = None
    name: str | None = Field(default=None, max_length=256)
    version: int | None = Field(default=None, ge=0, le=2**31 - 1)
    label: str | None = Field(default="production", max_length=64)
    model: str | None = Field(default=None, max_length=256)
    provider: str | None = Field(default=None, max_length=64)
    updated_at: Any = None
    created_at: Any = None


class PromptInfo(BaseModel):
    prompt_id: str | None = Field(default=None, max_length=36)
    name: str | None = Field(default=None, max_length=256)
    model: str | None = Field(default=None, max_length=256)
    provider: str | None = Field(default=None, max_length=64)


@router.post("/add/prompt", summary="Add a prompt version (LLMstudio's tracker)")
async def add_prompt(request: Request, prompt: PromptDefault) -> dict[str, Any]:
    if not (prompt.name and prompt.model and prompt.provider):
        raise ValidationFailedError("prompt: name, model and provider are required")
    _, prompts = await _tables(request)
    return await prompts.add(prompt.model_dump())


@router.get("/get/prompt", summary="A prompt by id, or the active one of a name, model and provider (LLMstudio's tracker)")
async def get_prompt(request: Request, info: PromptInfo = Body(default_factory=PromptInfo)) -> dict[str, Any]:
    _, prompts = await _tables(request)
    found = await prompts.find(info.prompt_id, info.name, info.model, info.provider)
    return found if found is not None else PromptDefault().model_dump()  # the reference answers an empty prompt


@router.patch("/update/prompt", summary="Update a prompt (LLMstudio's tracker)")
async def update_prompt(request: Request, prompt: PromptDefault) -> dict[str, Any]:
    _, prompts = await _tables(request)
    row = await prompts.update(prompt.model_dump())
    if row is None:
        raise NotFoundError("no such prompt")
    return row


@router.delete("/delete/prompt", summary="Delete a prompt (LLMstudio's tracker)")
async def delete_prompt(request: Request, prompt: PromptDefault) -> None:
    _, prompts = await _tables(request)
    if not await prompts.delete(prompt.model_dump()):
        raise NotFoundError("no such prompt")


@router.get("/stats", summary="Requests, errors, latency and cost per provider or model")
async def stats(
    request: Request,
    group_by: Literal["provider", "model"] = "provider",
    since: str | None = Query(default=None, description="unix seconds or ISO 8601"),
    provider: str | None = None,
) -> list[dict[str, Any]]:
    store = await request_store(request)
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
    store = await request_store(request)
    where = LogFilter(provider, model, None, None, parse_instant(since, "since"), parse_instant(until, "until"))
    return await store.timeseries(where, bucket_s)
