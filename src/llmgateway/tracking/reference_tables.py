"""LLMstudio's tracker tables beside the request log: sessions (chat histories a client
posts, with extras) and prompts (named, versioned, one active version per name, provider and
model), served on the reference tracker's paths by api/tracking.py."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from llmgateway.tracking.schema import prompts, sessions
from llmgateway.tracking.storable import storable_value

if TYPE_CHECKING:  # the async engine is made on the first read of the log (tracking/store.py)
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def iso(unix_seconds: float | None) -> str | None:
    """Unix seconds as the ISO 8601 date-time the reference's `datetime` fields carry."""
    return None if unix_seconds is None else datetime.fromtimestamp(unix_seconds, timezone.utc).isoformat()


def _with_dates(row: Any) -> dict[str, Any]:
    mapping = dict(row._mapping)
    mapping["created_at"], mapping["updated_at"] = iso(mapping["created_at"]), iso(mapping["updated_at"])
    return mapping


class SessionTable:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, session_id: str, chat_history: Any, extras: Any) -> dict[str, Any]:
        now = time.time()
        values = {"session_id": session_id, "chat_history": storable_value(chat_history), "extras": storable_value(extras),
                  "created_at": now, "updated_at": now}  # fmt: skip
        async with self._engine.begin() as conn:
            result = await conn.execute(sessions.insert().values(values).returning(*sessions.c))
            return _with_dates(result.one())

    async def of_session(self, session_id: str) -> list[dict[str, Any]]:
        query = select(sessions).where(sessions.c.session_id == session_id).order_by(sessions.c.created_at, sessions.c.message_id)
        async with self._engine.connect() as conn:
            return [_with_dates(row) for row in await conn.execute(query)]

    async def set_extras(self, message_id: int, extras: Any) -> dict[str, Any] | None:
        statement = (
            update(sessions)
            .where(sessions.c.message_id == message_id)
            .values(extras=storable_value(extras), updated_at=time.time())
            .returning(*sessions.c)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(statement)).first()
        return None if row is None else _with_dates(row)


_PROMPT_FIELDS = ("config", "prompt", "is_active", "name", "model", "provider", "version", "label")


class PromptTable:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, prompt: dict[str, Any]) -> dict[str, Any]:
        """A new version of a prompt (the next for its name, provider and model); when it is
        active, the others of its group are not."""
        now = time.time()
        async with self._engine.begin() as conn:
            group = _group(prompt)
            latest = (await conn.execute(select(func.max(prompts.c.version)).where(*group))).scalar()
            values = {name: prompt.get(name) for name in _PROMPT_FIELDS}
            values.update(prompt_id=str(uuid.uuid4()), version=(latest or 0) + 1, is_active=bool(prompt.get("is_active")),
                          config=storable_value(prompt.get("config") or {}), created_at=now, updated_at=now)  # fmt: skip
            if values["is_active"]:
                await _deactivate(conn, group)
            row = (await conn.execute(prompts.insert().values(values).returning(*prompts.c))).one()
        return _with_dates(row)

    async def find(self, prompt_id: str | None, name: str | None, model: str | None, provider: str | None) -> dict[str, Any] | None:
        """By id, else the active version of a name, model and provider (the newest if several)."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(_lookup({"prompt_id": prompt_id, "name": name, "model": model,
                                               "provider": provider}))).first()  # fmt: skip
        return None if row is None else _with_dates(row)

    async def update(self, prompt: dict[str, Any]) -> dict[str, Any] | None:
        async with self._engine.begin() as conn:
            row = (await conn.execute(_lookup(prompt))).first()
            if row is None:
                return None
            values = {name: prompt.get(name) for name in _PROMPT_FIELDS}
            values["is_active"] = bool(values["is_active"])
            values["config"] = storable_value(values["config"])
            values["version"] = values["version"] if values["version"] is not None else row.version
            if values["is_active"]:
                await _deactivate(conn, _group(values), except_id=row.prompt_id)
            statement = (
                update(prompts).where(prompts.c.prompt_id == row.prompt_id)
                .values(**values, updated_at=time.time()).returning(*prompts.c)
            )  # fmt: skip
            return _with_dates((await conn.execute(statement)).one())

    async def delete(self, prompt: dict[str, Any]) -> bool:
        async with self._engine.begin() as conn:
            row = (await conn.execute(_lookup(prompt))).first()
            if row is None:
                return False
            await conn.execute(prompts.delete().where(prompts.c.prompt_id == row.prompt_id))
        return True


def _group(prompt: dict[str, Any]) -> list[Any]:
    return [prompts.c.name == prompt.get("name"), prompts.c.model == prompt.get("model"),
            prompts.c.provider == prompt.get("provider")]  # fmt: skip


def _lookup(prompt: dict[str, Any]) -> Any:
    """The prompt a request names: by `prompt_id`, else the active version of its group."""
    if prompt.get("prompt_id"):
        return select(prompts).where(prompts.c.prompt_id == prompt["prompt_id"])
    return select(prompts).where(*_group(prompt), prompts.c.is_active.is_(True)).order_by(prompts.c.version.desc()).limit(1)


async def _deactivate(conn: AsyncConnection, group: list[Any], except_id: str | None = None) -> None:
    condition = [*group, prompts.c.is_active.is_(True)]
    if except_id is not None:
        condition.append(prompts.c.prompt_id != except_id)
    await conn.execute(update(prompts).where(*condition).values(is_active=False, updated_at=time.time()))
