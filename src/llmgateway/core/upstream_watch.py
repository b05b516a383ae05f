"""One timer for an attempt's waits on its upstream, instead of a timeout per event.

`asyncio.timeout_at` around each `anext` schedules and cancels a timer for every chunk of a
stream. An attempt has at most two deadlines (the first token's, then the request's), so one
timer is armed per deadline. When it fires while the attempt waits on its upstream, the task
is cancelled as `asyncio.timeout` would cancel it, and the wait ends in `TimeoutError`; when it
fires while the answer is being passed on to the client, the next wait ends at once. Waits on
the client are never cut: only the upstream is on the clock, as before.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, TypeVar

EventT = TypeVar("EventT")


class UpstreamWatch:
    """The deadline of one task's waits on an upstream stream (event-loop time)."""

    def __init__(self, deadline: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._waiting = False
        self._fired = False
        self._timer: asyncio.TimerHandle | None = None
        self.deadline = deadline
        self.arm(deadline)

    def arm(self, deadline: float) -> None:
        """Watch for `deadline` from now on (a later one, once the first token has come)."""
        self.disarm()
        self.deadline = deadline
        self._timer = self._loop.call_at(deadline, self._expired)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def next(self, upstream: AsyncIterator[EventT]) -> EventT | None:
        """The upstream's next event (None at its end); `TimeoutError` past the deadline."""
        if self._loop.time() >= self.deadline:
            raise TimeoutError
        assert self._task is not None
        cancelling = self._task.cancelling()
        self._waiting = True
        try:
            event = await anext(upstream, None)
        except asyncio.CancelledError:
            if self._fired and self._task.uncancel() <= cancelling:
                raise TimeoutError from None  # ours alone: a departing client's cancel goes on
            raise
        finally:
            self._waiting = False
        if self._fired:  # the upstream swallowed our cancel and answered anyway: still too late
            self._task.uncancel()
            raise TimeoutError
        return event

    def _expired(self) -> None:
        self._timer = None
        if self._waiting and self._task is not None:
            self._fired = True
            self._task.cancel()
