"""`/api/admin`: operations on the gateway's state (behind the master key when one is set)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from llmgateway.errors import BadRequestError

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
