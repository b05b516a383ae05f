"""`POST /api/export`: result objects in, one CSV file out (nested keys become dotted columns).

Safe to open in a spreadsheet: a text cell that a spreadsheet would evaluate (one starting
with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`, as OWASP advises
against CSV injection. Cheap whatever the input: flattening stops at `MAX_FLATTEN_DEPTH`
(deeper values stay JSON), the columns are bounded by `MAX_COLUMNS` and the cells by
`MAX_CELLS`, so the work and the output grow linearly with the input; it runs off the event
loop.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable

import orjson
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from llmgateway.errors import ValidationFailedError

router = APIRouter(prefix="/api", tags=["export"])

MAX_FLATTEN_DEPTH = 8
MAX_COLUMNS = 1000
MAX_CELLS = 2_000_000
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def flatten(row: dict[str, Any], prefix: str = "", depth: int = 1) -> dict[str, Any]:
    """{"metrics": {"latency_s": 1}} -> {"metrics.latency_s": 1}; lists, and dicts past the
    depth bound, stay JSON."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and depth < MAX_FLATTEN_DEPTH:
            flat.update(flatten(value, f"{name}.", depth + 1))
        elif isinstance(value, (list, dict)):
            flat[name] = _json(value)
        else:
            flat[name] = value
    return flat


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # what orjson will not write (integers past 64 bits, deep nesting): the stdlib
        return json.dumps(value)


def neutralised(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, made plain text."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    """Rows as CSV; the columns are every key seen, in the order first seen."""
    flat_rows = [flatten(r) for r in rows]
    columns: dict[str, None] = {}
    for row in flat_rows:
        columns.update(dict.fromkeys(row))
        if len(columns) > MAX_COLUMNS:
            raise ValidationFailedError(f"export: more than {MAX_COLUMNS} distinct columns")
    if len(columns) * len(flat_rows) > MAX_CELLS:
        raise ValidationFailedError(f"export: more than {MAX_CELLS} cells (rows x columns)")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[neutralised(c) for c in columns], extrasaction="ignore")
    writer.writeheader()
    names = dict(zip(columns, writer.fieldnames))
    writer.writerows({names[k]: neutralised(v) for k, v in row.items()} for row in flat_rows)
    return buffer.getvalue()


async def csv_response(rows: Iterable[dict[str, Any]], filename: str) -> Response:
    """The rows as a CSV download, built off the event loop."""
    text = await run_in_threadpool(to_csv, rows)
    return Response(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/export", summary="Export result objects as CSV")
async def export(results: list[dict[str, Any]]) -> Response:
    return await csv_response(results, "llmgateway-export.csv")
