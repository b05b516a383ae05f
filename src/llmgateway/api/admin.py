"""`/api/admin`: operations on the gateway's state: the response cache, teams and virtual keys.

Behind the master key (a virtual key gets 403). Keys and teams need the master key set and the
request log's database (where they are kept).
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from llmgateway.api.export import csv_response
from llmgateway.api.tracking import parse_instant, request_store
from llmgateway.core.budgets import period_bounds
from llmgateway.core.governance import Governance
from llmgateway.errors import BadRequestError
from llmgateway.tracking.keys import KeyStore
from llmgateway.tracking.store import LogFilter

router = APIRouter(prefix="/api/admin", tags=["admin"])


class CacheOffError(BadRequestError):
    error_type = "cache_off"


@router.delete("/cache", summary="Purge the response cache: one answer by its key, or all")
async def purge_cache(
    request: Request,
    key: str | None = Query(default=None, pattern="^[0-9a-f]{64}$", description="An answer's `x-llmgateway-cache-key`."),
) -> dict:
    cache = request.app.state.gateway.cache
    if cache is None:
        raise CacheOffError("the response cache is off (LLMGATEWAY_CACHE=off): there is nothing to purge")
    purged = int(await cache.store.delete(key)) if key is not None else await cache.store.clear()
    return {"purged": purged}


class GovernanceOffError(BadRequestError):
    error_type = "keys_off"


def _governance(request: Request) -> Governance:
    governance = request.app.state.gateway.governance
    if governance is None:
        raise GovernanceOffError("virtual keys need LLMGATEWAY_MASTER_KEY and the request log (tracking) on")
    return governance


class NewTeam(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    rpm: int | None = Field(default=None, ge=1, description="Requests a minute for all the team's keys together.")
    tpm: int | None = Field(default=None, ge=1, description="Tokens (input and output) a minute for the team's keys together.")
    max_parallel: int | None = Field(default=None, ge=1, description="Requests in flight at once for the team's keys together.")
    budget_usd: float | None = Field(default=None, ge=0, description="What the team's keys together may spend per period.")
    budget_period: Literal["day", "week", "month", "total"] = "month"
    metadata: dict[str, Any] | None = None


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    owner: str | None = Field(default=None, max_length=128)
    team: str | None = Field(default=None, description="A team's name or id.")
    models: list[str] | None = Field(default=None, max_length=100,
                                     description="provider/model, provider/* or route names; none: every model")  # fmt: skip
    rpm: int | None = Field(default=None, ge=1, description="Requests a minute for this key.")
    tpm: int | None = Field(default=None, ge=1, description="Tokens (input and output) a minute for this key.")
    max_parallel: int | None = Field(default=None, ge=1, description="Requests in flight at once for this key.")
    retries: int | None = Field(default=None, ge=0, le=10, description="Its requests' retries: the default, and the most.")
    timeout_s: float | None = Field(default=None, gt=0, le=3600, description="Its requests' timeout: the default, and the most.")
    budget_usd: float | None = Field(default=None, ge=0, description="What this key may spend per period.")
    budget_period: Literal["day", "week", "month", "total"] = "month"
    expires_in_s: float | None = Field(default=None, gt=0, description="Seconds until the key stops working.")
    metadata: dict[str, Any] | None = None


@router.post("/teams", summary="Create a team", status_code=201)
async def create_team(body: NewTeam, request: Request) -> dict:
    return await _governance(request).keys.create_team(**body.model_dump())


async def _with_budget_used(request: Request, keys: KeyStore, scope: str, rows: list[dict]) -> list[dict]:
    """Each row with `budget_used_usd`: what it spent in its budget's current period (the
    request log read after this instance's last records are written)."""
    await request.app.state.tracker.flush()
    now = time.time()
    for row in rows:
        budgeted = row["budget_usd"] is not None
        row["budget_used_usd"] = (
            await keys.spend(scope, row["id"], period_bounds(row["budget_period"] or "month", now)[0]) if budgeted else None
        )
    return rows


@router.get("/teams", summary="The teams, each with what it spent in its budget's period")
async def list_teams(request: Request) -> list[dict]:
    keys = _governance(request).keys
    return await _with_budget_used(request, keys, "team", await keys.teams())


@router.post("/keys", summary="Create a virtual key (shown once, in `key`)", status_code=201)
async def create_key(body: NewKey, request: Request) -> dict:
    governance = _governance(request)
    team_id = (await governance.keys.team(body.team))["id"] if body.team else None
    key, key_hash, hint = governance.new_key()
    fields = body.model_dump(exclude={"team", "models", "expires_in_s"})
    row = await governance.keys.create_key(
        key_hash, hint, **fields, team_id=team_id, allowed_models=body.models,
        expires_at=time.time() + body.expires_in_s if body.expires_in_s else None,
    )  # fmt: skip
    return {**row, "key": key}


@router.get("/keys", summary="The virtual keys (never the keys themselves), each with what it spent in its budget's period")
async def list_keys(request: Request) -> list[dict]:
    keys = _governance(request).keys
    return await _with_budget_used(request, keys, "key", await keys.keys())


@router.get("/keys/{key_id}", summary="One virtual key")
async def show_key(key_id: str, request: Request) -> dict:
    return await _governance(request).keys.key(key_id)


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grace_s: float = Field(default=86_400, ge=0, le=30 * 86_400, description="How long the old value keeps working.")


@router.post("/keys/{key_id}/rotate", summary="A new value for a key (shown once); the old one works for the grace period")
async def rotate_key(key_id: str, request: Request, body: Rotation | None = None) -> dict:
    governance = _governance(request)
    key, key_hash, hint = governance.new_key()
    row = await governance.keys.rotate(key_id, key_hash, hint, (body or Rotation()).grace_s)
    return {**row, "key": key}


@router.post("/keys/{key_id}/revoke", summary="Revoke a key: refused on every instance from now on")
async def revoke_key(key_id: str, request: Request) -> dict:
    return await _governance(request).keys.revoke(key_id)


@router.get("/spend", summary="Spend per key, team, model or UTC day (JSON, or CSV with format=csv)")
async def spend(
    request: Request,
    group_by: Literal["key", "team", "model", "day"] = "key",
    since: str | None = Query(default=None, description="unix seconds or ISO 8601"),
    until: str | None = Query(default=None, description="unix seconds or ISO 8601"),
    format: Literal["json", "csv"] = "json",
    per_day: bool = Query(default=False, description="Per key, team or model and UTC day."),
) -> Any:
    store = await request_store(request)
    where = LogFilter(since=parse_instant(since, "since"), until=parse_instant(until, "until"))
    rows = await store.spend_report(group_by, where, per_day)
    return rows if format == "json" else await csv_response(rows, f"spend-by-{group_by}.csv")
