"""What rate limiters and budget ledgers work with, in process or in Redis."""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_S = 60.0  # requests are counted over the last minute, sliding


@dataclass(frozen=True, slots=True)
class Admission:
    admitted: bool
    remaining: tuple[int, ...]  # per window, after this request (when admitted)
    retry_after_s: float  # when refused: until the refusing window has room again


@dataclass(frozen=True, slots=True)
class Account:
    """One budget a request counts in, for the current period."""

    name: str  # key:<id>:<period start> or team:<id>:<period start>
    scope: str  # key or team
    owner_id: str
    budget_usd: float
    period_start: float  # unix seconds
    period_end: float | None  # None for `total`
