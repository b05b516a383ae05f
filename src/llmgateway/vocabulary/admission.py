"""What a rate limiter answers, in process or in Redis."""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_S = 60.0  # requests are counted over the last minute, sliding


@dataclass(frozen=True, slots=True)
class Admission:
    admitted: bool
    remaining: tuple[int, ...]  # per window, after this request (when admitted)
    retry_after_s: float  # when refused: until the refusing window has room again
