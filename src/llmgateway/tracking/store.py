"""The SQL request log: SQLite by default, PostgreSQL at scale, through SQLAlchemy 2.

The async engine reads, and writes on PostgreSQL; a SQLite file is migrated and written through
a synchronous engine in a thread (see `_insert_into_sqlite`)."""

from __future__ import annotations

import asyncio
import fcntl
import importlib
import logging
import os
import sqlite3
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from itertools import chain
from typing import TYPE_CHECKING, Any, AsyncIterator

import orjson
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    case,
    create_engine,
    event,
    func,
    inspect,
    literal_column,
    null,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from llmgateway.errors import ConfigurationError
from llmgateway.tracking.aggregates import (
    PERCENTILES,
    bucket_index,
    percentiles,
    ranked_values_query,
    timeseries_query,
    totals_query,
)
from llmgateway.tracking.schema import conversations, metadata, requests, teams, virtual_keys

if TYPE_CHECKING:  # imported with the async engine, on its first use
    from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger("llmgateway.tracking")

_COLUMNS = tuple(requests.c.keys())
# The most placeholders one SQLite statement may hold: SQLITE_MAX_VARIABLE_NUMBER's default.
_SQLITE_MAX_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
# The columns whose values are stored as JSON text: None too, as JSON's null (SQLAlchemy's default).
_JSON_COLUMNS = frozenset(c.name for c in requests.c if isinstance(c.type, JSON))


class MigrationError(ConfigurationError):
    """The schema could not be brought up to date; the gateway must not start."""


@dataclass(frozen=True, slots=True)
class LogFilter:
    provider: str | None = None
    model: str | None = None
    session_id: str | None = None
    status: str | None = None
    since: float | None = None
    until: float | None = None


# The newest migration's revision. A database already there needs no Alembic at start (its
# import and script loading cost a tenth of a second and 11 MiB); the tests hold this to the scripts.
SCHEMA_HEAD = "0009"

# Alembic's own table, as `alembic stamp` makes it.
_alembic_version = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def _upgrade_to_head(connection: Connection) -> None:
    """Bring the schema to SCHEMA_HEAD. An empty database is given the tables as they stand
    (schema.py) and stamped at the head, as Alembic's own recipe for a new database does: no
    Alembic import and no replay of every migration. One with tables is migrated."""
    tables = inspect(connection).get_table_names()
    if "alembic_version" in tables:
        if connection.execute(select(_alembic_version.c.version_num)).scalar() == SCHEMA_HEAD:
            return
    elif not tables:
        metadata.create_all(connection)
        _alembic_version.create(connection)
        connection.execute(_alembic_version.insert().values(version_num=SCHEMA_HEAD))
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("llmgateway.tracking").joinpath("migrations")))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


@dataclass(frozen=True, slots=True)
class _CompiledUpsert:
    """The request log's upsert in one database's dialect (its placeholders and casts), and
    the column each placeholder takes, in order (or by name, for a driver that names them)."""

    sql: str
    columns: tuple[str, ...]
    positional: bool

    def values_of(self, row: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """What SQLAlchemy's types would bind: JSON columns' values (None too, as JSON's null,
        SQLAlchemy's default) as JSON text, every other value as it is."""
        values = (_json_dumps(row.get(name)) if name in _JSON_COLUMNS else row.get(name) for name in self.columns)
        return tuple(values) if self.positional else dict(zip(self.columns, values))

    def many_rows(self, rows: list[dict[str, Any]]) -> tuple[str, tuple[Any, ...]]:
        """One statement, and its values, that upserts all of `rows` in one VALUES list
        (positional placeholders only: SQLite's)."""
        row_group = f"({', '.join('?' * len(self.columns))})"
        head, found, tail = self.sql.partition(row_group)
        if not found:
            raise RuntimeError(f"the compiled upsert has no VALUES group {row_group!r}: {self.sql}")
        sql = f"{head}{', '.join([row_group] * len(rows))}{tail}"
        return sql, tuple(chain.from_iterable(self.values_of(row) for row in rows))


class RequestStore:
    """Reads and writes the `requests` table."""

    def __init__(self, database_url: str) -> None:
        self._url = url = make_url(database_url)
        self.dialect = url.get_backend_name()
        database = url.database if self.dialect == "sqlite" else None
        self._upsert: _CompiledUpsert | None = None
        self.sqlite_path = database if database and database != ":memory:" else None
        self._engine: AsyncEngine | None = None  # made on first use: see engine
        self._sqlite_writer: Engine | None = None  # a SQLite file's writes: see _insert_into_sqlite
        if self.sqlite_path is not None:
            self._sqlite_writer = create_engine(url.set(drivername="sqlite"), json_serializer=_json_dumps)
            event.listen(self._sqlite_writer, "connect", _sqlite_pragmas)

    @property
    def engine(self) -> AsyncEngine:
        """The async engine: it reads, and writes all but a SQLite file's records. Made on first
        use, because SQLAlchemy's asyncio extension imports its ORM (~8 MiB): on SQLite, a
        gateway whose log nobody reads (a sidecar, say) never loads it."""
        if self._engine is None:
            self._engine = self._async_engine()
        return self._engine

    async def prepare_reads(self) -> None:
        """Make the async engine now, its imports off the event loop: for a gateway that reads
        the database on every request (virtual keys), so that its first request does not wait."""
        await asyncio.to_thread(importlib.import_module, "sqlalchemy.ext.asyncio")
        if self._engine is None:
            self._engine = self._async_engine()

    def _async_engine(self) -> AsyncEngine:
        from sqlalchemy.ext.asyncio import create_async_engine

        kwargs: dict[str, Any] = {"pool_pre_ping": True, "json_serializer": _json_dumps}
        if self.dialect == "postgresql":
            kwargs.update(pool_size=5, max_overflow=5)
        engine = create_async_engine(self._url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine

    async def migrate(self) -> None:
        """Bring the schema to the newest revision, in one transaction where the database allows.

        Several processes start at once (`--workers`, replicas): one migrates at a time, and
        those after it find the schema at head. PostgreSQL serialises them with a transaction
        advisory lock; SQLite, a file on one host, with a lock file beside the database."""
        try:
            async with _migration_file_lock(self.sqlite_path):
                if self._sqlite_writer is not None:
                    await asyncio.to_thread(_migrate_with, self._sqlite_writer)
                    return
                async with self.engine.begin() as conn:
                    if self.dialect == "postgresql":
                        await conn.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})"))
                    await conn.run_sync(_upgrade_to_head)
        except (SQLAlchemyError, OSError) as exc:
            raise MigrationError(f"the request log database could not be migrated: {exc}") from exc

    async def reachable(self, timeout_s: float = 5.0) -> bool:
        """Whether the database answers a trivial query now (through the engine that writes)."""
        try:
            async with asyncio.timeout(timeout_s):
                if self._sqlite_writer is not None:
                    await asyncio.to_thread(_select_one, self._sqlite_writer)
                else:
                    async with self.engine.connect() as conn:
                        await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def _insert_into(self, table: Any) -> Any:
        """An INSERT with this dialect's ON CONFLICT clause."""
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    async def insert_many(self, rows: list[dict[str, Any]]) -> None:
        """Insert the gateway's records. A record whose id is stored already (a replayed spill
        or journal, or a client's post that came first) is written over, keeping a session
        id a client attached.

        The upsert is compiled once and executed as the driver's own statement: building it
        and binding each row through SQLAlchemy's types was a third of a stored record's CPU
        (bench/profile.md)."""
        if not rows:
            return
        upsert = self._upsert or self._compile_upsert()
        if self._sqlite_writer is not None:
            await asyncio.to_thread(_insert_into_sqlite, self._sqlite_writer, upsert, rows)
            return
        async with self.engine.begin() as conn:
            await conn.exec_driver_sql(upsert.sql, [upsert.values_of(row) for row in rows])

    def _compile_upsert(self) -> _CompiledUpsert:
        insert = self._insert_into(requests)
        written_over = {name: insert.excluded[name] for name in _COLUMNS if name not in ("id", "session_id")}
        written_over["session_id"] = func.coalesce(insert.excluded.session_id, requests.c.session_id)
        statement = insert.on_conflict_do_update(index_elements=["id"], set_=written_over)
        compiled = statement.compile(dialect=(self._sqlite_writer or self.engine).dialect, column_keys=list(_COLUMNS))
        self._upsert = _CompiledUpsert(compiled.string, tuple(compiled.positiontup or _COLUMNS), compiled.positional)
        return self._upsert

    async def merge_client_log(self, row: dict[str, Any]) -> dict[str, Any]:
        """A client's post of a result: attached to the gateway's record of the same id (its
        session id, where the record has none), else stored as it is. The stored row."""
        insert = self._insert_into(requests)
        statement = insert.on_conflict_do_update(
            index_elements=["id"], set_={"session_id": func.coalesce(requests.c.session_id, insert.excluded.session_id)}
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement, [{name: row.get(name) for name in _COLUMNS}])
        stored = await self._select_logs(requests.c.id == row["id"], limit=1)
        return stored[0]

    def _log_id(self) -> Any:
        """The integer id of a row: SQLite's rowid, PostgreSQL's identity column."""
        return literal_column("rowid" if self.dialect == "sqlite" else "requests.log_id").label("log_id")

    async def _select_logs(self, *conditions: Any, skip: int = 0, limit: int = 100) -> list[dict]:
        """Rows, newest first, each with its `log_id`."""
        query = select(requests, self._log_id()).where(*conditions).order_by(requests.c.created_at.desc()).offset(skip).limit(limit)
        async with self.engine.connect() as conn:
            return [dict(row._mapping) for row in await conn.execute(query)]

    async def logs(self, where: LogFilter, skip: int = 0, limit: int = 100) -> list[dict]:
        return await self._select_logs(*_conditions(where), skip=skip, limit=limit)

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(requests))).scalar_one()

    async def conversation(self, session_id: str, known_version: int | None) -> tuple[int, list[dict[str, Any]] | None] | None:
        """A session's conversation version, with its messages unless the caller already holds
        that version (one indexed read either way); None for a session with no turn yet."""
        c = conversations.c
        messages = c.messages if known_version is None else case((c.version == known_version, null()), else_=c.messages)
        query = select(c.version, messages.label("messages")).where(c.session_id == session_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (row.version, row.messages)

    async def save_conversation(self, session_id: str, messages: list[dict[str, Any]]) -> int:
        """Store a session's conversation after a turn; its new version."""
        insert = self._insert_into(conversations).values(
            session_id=session_id, version=1, messages=messages, updated_at=time.time()
        )
        upsert = insert.on_conflict_do_update(
            index_elements=["session_id"],
            set_={"version": conversations.c.version + 1, "messages": insert.excluded.messages,
                  "updated_at": insert.excluded.updated_at},
        ).returning(conversations.c.version)  # fmt: skip
        async with self.engine.begin() as conn:
            return (await conn.execute(upsert)).scalar_one()

    async def stats(self, group_by: str, where: LogFilter) -> list[dict[str, Any]]:
        """Per provider or model: requests, errors, p50/p95 latency and TTFT, tokens and cost."""
        group = requests.c.provider if group_by == "provider" else requests.c.model_requested
        conditions = _conditions(where)
        async with self.engine.connect() as conn:
            totals = (await conn.execute(totals_query(group, conditions).order_by(group))).all()
            latency = percentiles(await conn.execute(ranked_values_query(group, requests.c.latency_s, conditions)))
            ttft = percentiles(await conn.execute(ranked_values_query(group, requests.c.time_to_first_token_s, conditions)))
        none: dict[int, float | None] = {p: None for p in PERCENTILES}
        return [
            {
                group_by: row.group,
                "requests": row.requests,
                "errors": row.errors,
                "cancelled": row.cancelled,
                "latency_p50_s": latency.get(row.group, none)[50],
                "latency_p95_s": latency.get(row.group, none)[95],
                "time_to_first_token_p50_s": ttft.get(row.group, none)[50],
                "time_to_first_token_p95_s": ttft.get(row.group, none)[95],
                "input_tokens": row.input_tokens,
                "output_tokens": row.output_tokens,
                "cost_usd": None if row.cost_usd is None else round(row.cost_usd, 10),
                "cache_hits": row.cache_hits,
                "cache_hit_rate": round(row.cache_hits / row.cacheable, 4) if row.cacheable else None,
                "cost_saved_usd": round(row.cost_saved_usd, 10),
            }
            for row in totals
        ]

    async def spend_report(self, group_by: str, where: LogFilter, per_day: bool = False) -> list[dict[str, Any]]:
        """Requests, errors, tokens, cost and what the cache saved, per virtual key, team,
        model or UTC day (and with `per_day`, per key, team or model and UTC day); keys and
        teams with their names."""
        c = requests.c
        day = bucket_index(self.dialect, 86_400)
        group = {"key": c.virtual_key_id, "team": c.team_id, "model": c.model_requested, "day": day}[group_by]
        conditions = _conditions(where) + ([group.is_not(None)] if group_by in ("key", "team") else [])
        per_day = per_day and group_by != "day"
        query = totals_query(group, conditions)
        if per_day:
            query = query.add_columns(day.label("day_index")).group_by(day).order_by(day)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(group))).all()
            names = {}
            if group_by in ("key", "team"):
                table = virtual_keys if group_by == "key" else teams
                names = dict((await conn.execute(select(table.c.id, table.c.name))).all())
        report = []
        for row in rows:
            entry: dict[str, Any] = {group_by: row.group}
            if group_by == "day" or per_day:
                entry["day"] = time.strftime("%Y-%m-%d", time.gmtime((row.group if group_by == "day" else row.day_index) * 86_400))
            if names:
                entry["name"] = names.get(row.group)
            entry.update(requests=row.requests, errors=row.errors, input_tokens=row.input_tokens, output_tokens=row.output_tokens,
                         cost_usd=round(row.cost_usd or 0.0, 10), cost_saved_usd=round(row.cost_saved_usd, 10))  # fmt: skip
            report.append(entry)
        return report

    async def timeseries(self, where: LogFilter, bucket_s: float) -> list[dict[str, Any]]:
        """Requests, errors, tokens, cost and the cache's hits and savings per time bucket (unix
        seconds at its start)."""
        query = timeseries_query(bucket_index(self.dialect, bucket_s), _conditions(where))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            {"start": row.group * bucket_s, "requests": row.requests, "errors": row.errors,
             "input_tokens": row.input_tokens, "output_tokens": row.output_tokens, "cost_usd": row.cost_usd or 0.0,
             "cache_hits": row.cache_hits, "cacheable": row.cacheable, "cost_saved_usd": row.cost_saved_usd}
            for row in rows
        ]  # fmt: skip

    async def aclose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
        if self._sqlite_writer is not None:
            self._sqlite_writer.dispose()


def _conditions(where: LogFilter) -> list[Any]:
    c = requests.c
    conditions = []
    if where.provider:
        conditions.append(c.provider == where.provider)
    if where.model:
        conditions.append((c.model_requested == where.model) | (c.model_reported == where.model))
    if where.session_id:
        conditions.append(c.session_id == where.session_id)
    if where.status:
        conditions.append(c.status == where.status)
    if where.since is not None:
        conditions.append(c.created_at >= where.since)
    if where.until is not None:
        conditions.append(c.created_at < where.until)
    return conditions


_MIGRATION_LOCK_ID = 7_312_436_271  # the advisory lock migrations hold on PostgreSQL ("llmgw")


@asynccontextmanager
async def _migration_file_lock(database_path: str | None) -> AsyncIterator[None]:
    """An exclusive lock on `<database>.migrate-lock` while held (nothing without a file)."""
    if database_path is None:
        yield
        return
    fd = os.open(f"{database_path}.migrate-lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _migrate_with(engine: Engine) -> None:
    with engine.begin() as connection:
        _upgrade_to_head(connection)


def _select_one(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _insert_into_sqlite(engine: Engine, upsert: _CompiledUpsert, rows: list[dict[str, Any]]) -> None:
    """A batch written to the SQLite file in one thread, with many rows a statement.

    Through the async engine, each step of a write (checkout, execute, commit, reset) was
    a hop to aiosqlite's thread and back through the event loop, and sqlite3's executemany
    gives up the GIL once a row; while the loop is busy, each hop and each row waits for
    it. Under load a batch of 200 took ~0.5 s: the log stored ~500 records a second while
    the gateway answered ~750, and its queue (and memory) grew. Here a batch makes one hop
    and waits for the GIL a few times, not once a row."""
    per_statement = _SQLITE_MAX_VARIABLES // len(upsert.columns)
    with engine.begin() as conn:
        for start in range(0, len(rows), per_statement):
            conn.exec_driver_sql(*upsert.many_rows(rows[start : start + per_statement]))


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the API read while the writer writes; NORMAL sync is durable across crashes in WAL."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
