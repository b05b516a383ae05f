"""Teams and virtual keys in the request log's database, so every instance reads the same.

A key is looked up by its keyed hash (core/governance.py makes it); nothing here sees a key in
clear. Every lookup reads the database, so a revocation holds on every instance at once.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from llmgateway.errors import BadRequestError, NotFoundError
from llmgateway.tracking.schema import requests, teams, virtual_keys
from llmgateway.tracking.store import RequestStore

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

_KEY_FIELDS = ("id", "name", "owner", "team_id", "hint", "allowed_models", "rpm", "tpm", "max_parallel", "retries",
               "timeout_s", "budget_usd", "budget_period", "expires_at", "revoked_at", "previous_valid_until", "metadata",
               "created_at")  # fmt: skip


_KEY_COLUMNS = [virtual_keys.c[name] for name in _KEY_FIELDS]  # never the hashes


class TeamExistsError(BadRequestError):
    error_type = "team_exists"


class KeyStore:
    def __init__(self, store: RequestStore) -> None:
        self._store = store

    @property
    def _engine(self) -> AsyncEngine:
        return self._store.engine  # made on the first use of keys or teams

    async def create_team(self, name: str, **fields: Any) -> dict[str, Any]:
        row = {"id": str(uuid.uuid4()), "name": name, "created_at": time.time(), **fields}
        try:
            async with self._engine.begin() as conn:
                await conn.execute(teams.insert().values(**row))
        except IntegrityError:
            raise TeamExistsError(f"a team named {name!r} exists already") from None
        return row

    async def teams(self) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(select(teams).order_by(teams.c.created_at))]

    async def team(self, name_or_id: str) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(teams).where((teams.c.id == name_or_id) | (teams.c.name == name_or_id)))).first()
        if row is None:
            raise NotFoundError(f"no team {name_or_id!r}")
        return dict(row._mapping)

    async def create_key(self, key_hash: str, hint: str, **fields: Any) -> dict[str, Any]:
        row = {"id": str(uuid.uuid4()), "key_hash": key_hash, "hint": hint, "revoked_at": None, "created_at": time.time(), **fields}
        async with self._engine.begin() as conn:
            await conn.execute(virtual_keys.insert().values(**row))
        return {name: row.get(name) for name in _KEY_FIELDS}

    async def keys(self) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(select(*_KEY_COLUMNS).order_by(virtual_keys.c.created_at))]

    async def key(self, key_id: str) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(*_KEY_COLUMNS).where(virtual_keys.c.id == key_id))).first()
        if row is None:
            raise NotFoundError(f"no key {key_id!r}")
        return dict(row._mapping)

    async def revoke(self, key_id: str) -> dict[str, Any]:
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(virtual_keys).where(virtual_keys.c.id == key_id, virtual_keys.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )  # fmt: skip
        key = await self.key(key_id)
        return {**key, "revoked_now": done.rowcount == 1}

    async def by_hash(self, key_hash: str) -> dict[str, Any] | None:
        """A key and its team's limits, by the keyed hash of the key."""
        query = (
            select(virtual_keys, teams.c.rpm.label("team_rpm"), teams.c.tpm.label("team_tpm"),
                   teams.c.max_parallel.label("team_max_parallel"), teams.c.budget_usd.label("team_budget_usd"),
                   teams.c.budget_period.label("team_budget_period"))  # fmt: skip
            .select_from(virtual_keys.outerjoin(teams, virtual_keys.c.team_id == teams.c.id))
            .where(
                (virtual_keys.c.key_hash == key_hash)
                | ((virtual_keys.c.previous_key_hash == key_hash) & (virtual_keys.c.previous_valid_until > time.time()))
            )
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else dict(row._mapping)

    async def rotate(self, key_id: str, key_hash: str, hint: str, grace_s: float) -> dict[str, Any]:
        """A new value for the key; the old one keeps working for `grace_s` seconds."""
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(virtual_keys).where(virtual_keys.c.id == key_id, virtual_keys.c.revoked_at.is_(None))
                .values(previous_key_hash=virtual_keys.c.key_hash, previous_valid_until=time.time() + grace_s,
                        key_hash=key_hash, hint=hint)
            )  # fmt: skip
        if done.rowcount != 1:
            raise NotFoundError(f"no active key {key_id!r}")
        return await self.key(key_id)

    async def spend(self, scope: str, owner_id: str, since: float) -> float:
        """What a key's or a team's recorded requests cost since `since` (unix seconds)."""
        column = requests.c.virtual_key_id if scope == "key" else requests.c.team_id
        query = select(func.coalesce(func.sum(requests.c.cost_usd), 0.0)).where(column == owner_id, requests.c.created_at >= since)
        async with self._engine.connect() as conn:
            return float((await conn.execute(query)).scalar_one())
