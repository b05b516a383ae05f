"""What rate limiters and budget ledgers work with, in process or in Redis."""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_S = 60.0  # requests and tokens are counted over the last minute, sliding


@dataclass(frozen=True, slots=True)
class Window:
    """A sliding minute a request counts in with a weight: 1 (requests a minute), or its
    worst-case tokens (tokens a minute, settled to the real count when the call ends)."""

    name: str  # rpm:key:<id>, tpm:team:<id>, ...
    limit: int
    weight: int


@dataclass(frozen=True, slots=True)
class Slot:
    """Concurrent requests: a request holds a slot from admission until its call ends (or its
    lease runs out, should its instance die first)."""

    name: str  # par:key:<id> or par:team:<id>
    limit: int


@dataclass(frozen=True, slots=True)
class Admission:
    admitted: bool
    remaining: tuple[int, ...]  # per window, after this request (when admitted)
    retry_after_s: float  # when refused: until the refusing window has room again
    refused_by: str | None = None  # the window's or slot's name


@dataclass(frozen=True, slots=True)
class Account:
    """One budget a request counts in, for the current period."""

    name: str  # key:<id>:<period start> or team:<id>:<period start>
    scope: str  # key or team
    owner_id: str
    budget_usd: float
    period_start: float  # unix seconds
    period_end: float | None  # None for `total`
