"""The request log's summaries, computed by the database: counts and sums per group or time
bucket, and percentiles from the few rows at the ranks they need.

Nothing here reads every row into Python: a summary costs the database one scan and the
gateway a handful of rows, however large the log is.
"""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import Integer, Select, case, cast, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from llmgateway.tracking.schema import requests

PERCENTILES = (50, 95)


def totals_query(group: ColumnElement, conditions: list[Any]) -> Select:
    """Requests, errors, cancellations, tokens and cost per value of `group`."""
    c = requests.c
    return (
        select(
            group.label("group"),
            func.count().label("requests"),
            func.sum(case((c.status == "error", 1), else_=0)).label("errors"),
            func.sum(case((c.status == "cancelled", 1), else_=0)).label("cancelled"),
            func.coalesce(func.sum(c.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(c.output_tokens), 0).label("output_tokens"),
            func.sum(c.cost_usd).label("cost_usd"),  # NULL when no row has a price
            func.sum(case((c.cache == "hit", 1), else_=0)).label("cache_hits"),
            func.sum(case((c.cache.is_not(None), 1), else_=0)).label("cacheable"),
            func.coalesce(func.sum(c.cost_saved_usd), 0.0).label("cost_saved_usd"),
        )
        .where(*conditions)
        .group_by(group)
    )


def ranked_values_query(group: ColumnElement, value: ColumnElement, conditions: list[Any]) -> Select:
    """Per group, the successful calls' values at the ranks the percentiles interpolate
    between (at most two per percentile), each with its 0-based rank and the group's count.

    The ranks follow the inclusive method (Python's `statistics.quantiles(method="inclusive")`,
    numpy's "linear"): percentile p of n sorted values lies at rank (n - 1) * p / 100.
    """
    ranked = (
        select(
            group.label("group"),
            value.label("value"),
            (func.row_number().over(partition_by=group, order_by=value) - 1).label("rank"),
            func.count().over(partition_by=group).label("n"),
        )
        .where(*conditions, requests.c.status == "success", value.is_not(None))
        .subquery()
    )
    lower = [(ranked.c.n - 1) * p // 100 for p in PERCENTILES]
    return select(ranked).where(or_(*(or_(ranked.c.rank == rank, ranked.c.rank == rank + 1) for rank in lower)))


def percentiles(rows: Iterable[Any]) -> dict[Any, dict[int, float]]:
    """The percentiles of each group, from `ranked_values_query`'s rows."""
    by_group: dict[Any, tuple[int, dict[int, float]]] = {}
    for row in rows:
        by_group.setdefault(row.group, (row.n, {}))[1][row.rank] = row.value
    result = {}
    for group, (n, at_rank) in by_group.items():
        result[group] = {p: _interpolated(at_rank, n, p) for p in PERCENTILES}
    return result


def _interpolated(at_rank: dict[int, float], n: int, p: int) -> float:
    position = (n - 1) * p
    rank, weight = divmod(position, 100)
    if weight == 0:
        return at_rank[rank]
    return (at_rank[rank] * (100 - weight) + at_rank[rank + 1] * weight) / 100


def bucket_index(dialect: str, bucket_s: float) -> ColumnElement:
    """Which bucket of `bucket_s` seconds (counted from the epoch) a row's arrival falls in.
    SQLite's integer cast truncates (the floor, for times after 1970); PostgreSQL's rounds."""
    quotient = requests.c.created_at / bucket_s
    return cast(func.floor(quotient) if dialect == "postgresql" else quotient, Integer)


def timeseries_query(bucket: ColumnElement, conditions: list[Any]) -> Select:
    return totals_query(bucket, conditions).order_by(bucket)

