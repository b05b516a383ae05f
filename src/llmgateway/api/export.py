"""`POST /api/export`: result objects in, one CSV file out (nested keys become dotted columns)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable

import orjson
from fastapi import APIRouter
from starlette.responses import Response

router = APIRouter(prefix="/api", tags=["export"])


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"metrics": {"latency_s": 1}} -> {"metrics.latency_s": 1}; lists stay JSON."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, dict)):
            flat[name] = _json(value)
        else:
            flat[name] = value
    return flat


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # what orjson will not write (integers past 64 bits): the slower stdlib
        return json.dumps(value)


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    """Rows as CSV; the columns are every key seen, in the order first seen."""
    flat_rows = [flatten(r) for r in rows]
    columns: dict[str, None] = {}
    for row in flat_rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(flat_rows)
    return buffer.getvalue()


def csv_response(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/export", summary="Export result objects as CSV")
async def export(results: list[dict[str, Any]]) -> Response:
    return csv_response(to_csv(results), "llmgateway-export.csv")
