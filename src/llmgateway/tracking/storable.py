"""Records made storable when they are built: one record goes to SQLite, PostgreSQL, the
journal, the spill file and CSV alike, so one hostile value cannot fail an insert.

What no store takes is converted or cut: integers past 64 bits (to text), lone surrogates
(replaced), NUL bytes (PostgreSQL text and JSONB refuse them; removed), keys that are not
strings, nesting past `MAX_DEPTH` and strings past `MAX_STRING_CHARS` (cut, with a marker),
strings longer than their column, integers past their column's range. A record that needed
any of it carries `sanitized: true`.

Most records need none of it, and the check costs one orjson encoding, which is reused as
the record's journal line.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Integer, String

from llmgateway.tracking.schema import requests

MAX_DEPTH = 64
MAX_STRING_CHARS = 1_000_000
_CUT = "…[cut]"
_TOO_DEEP = "[nesting past the record's bound]"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
# The whole encoded record under this size holds no string past MAX_STRING_CHARS.
_FAST_PATH_BYTES = MAX_STRING_CHARS

_STRING_COLUMNS = {c.name: c.type.length for c in requests.c if isinstance(c.type, String) and c.type.length}
_INTEGER_COLUMNS = tuple(c.name for c in requests.c if isinstance(c.type, Integer))


def storable(record: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The record as every store can hold it, and its JSON line."""
    changed = _fit_columns(record)
    try:
        encoded = orjson.dumps(record)
    except (TypeError, orjson.JSONEncodeError):
        encoded = None
    if encoded is None or len(encoded) > _FAST_PATH_BYTES or b"\\u0000" in encoded:
        record = {str(key): _safe(value, 1) for key, value in record.items()}
        changed = True
        _fit_columns(record)
    if changed:
        record["sanitized"] = True
        encoded = orjson.dumps(record)
    assert encoded is not None
    return record, encoded + b"\n"


def storable_value(value: Any) -> Any:
    """One JSON value (a session's extras, a prompt's config) as every store can hold it."""
    return _safe(value, 1)


def _fit_columns(record: dict[str, Any]) -> bool:
    """Cut strings to their column's length and integers to their column's range, in place."""
    changed = False
    for name, length in _STRING_COLUMNS.items():
        value = record.get(name)
        if isinstance(value, str) and len(value) > length:
            record[name] = value[:length]
            changed = True
    for name in _INTEGER_COLUMNS:
        value = record.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and not _INT32_MIN <= value <= _INT32_MAX:
            record[name] = max(_INT32_MIN, min(_INT32_MAX, value))
            changed = True
    return changed


def _safe(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if isinstance(value, str):
        return _safe_text(value)
    if depth > MAX_DEPTH:
        return _TOO_DEEP
    if isinstance(value, dict):
        return {_safe_text(str(k)): _safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v, depth + 1) for v in value]
    return _safe_text(str(value))


def _safe_text(text: str) -> str:
    if len(text) > MAX_STRING_CHARS:
        text = text[:MAX_STRING_CHARS] + _CUT
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text
