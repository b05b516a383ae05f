"""Timing of one call, watched on the event stream with a monotonic clock.

Definitions (all in seconds, from `started_at`, the moment the gateway received the request):
- latency: to the last upstream event.
- time to first token: to the first event that carries output (text or a tool-call
  fragment); role-only and usage-only chunks do not count.
- generation: from the first output event to the last.
Per-token figures (inter-token latency, tokens per second) come from these and the vendor's
token counts, in report.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from llmgateway.vocabulary.events import OUTPUT_EVENTS, ChatEvent


@dataclass(frozen=True, slots=True)
class Timings:
    latency_s: float
    time_to_first_token_s: float | None
    generation_s: float  # first output event to last; 0.0 with fewer than two
    output_events: int


class MetricsCollector:
    """Sees every event; does three comparisons and one clock read per event."""

    __slots__ = ("_clock", "started_at", "_first_output_at", "_last_output_at", "_last_event_at", "_output_events")

    def __init__(self, started_at: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started_at = clock() if started_at is None else started_at
        self._first_output_at: float | None = None
        self._last_output_at: float | None = None
        self._last_event_at: float | None = None
        self._output_events = 0

    def observe(self, event: ChatEvent) -> None:
        now = self._clock()
        self._last_event_at = now
        if isinstance(event, OUTPUT_EVENTS):
            if self._first_output_at is None:
                self._first_output_at = now
            self._last_output_at = now
            self._output_events += 1

    def finish(self) -> Timings:
        """The timings so far; a call that ended without any event ends now."""
        end = self._last_event_at if self._last_event_at is not None else self._clock()
        first, last, count = self._first_output_at, self._last_output_at, self._output_events
        ttft = None if first is None else first - self.started_at
        generation = last - first if count > 1 and first is not None and last is not None else 0.0
        return Timings(
            latency_s=end - self.started_at,
            time_to_first_token_s=ttft,
            generation_s=generation,
            output_events=count,
        )
