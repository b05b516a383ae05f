"""Readiness that turns false before the server stops accepting, on SIGTERM.

A load balancer that routes by readiness (a Kubernetes Service without a preStop pause, an
nginx or HAProxy health check) needs a moment to stop sending: with `LLMGATEWAY_DRAIN_S` set,
SIGTERM first turns `/health/ready` to 503 `draining` while the gateway still serves, and only
after those seconds hands the signal to the server, which stops accepting, lets in-flight
calls finish within the shutdown grace, and exits. A second SIGTERM stops at once.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from types import FrameType
from typing import Callable

from starlette.datastructures import State


def drain_on_sigterm(state: State, drain_s: float) -> Callable[[], None]:
    """Put the drain in front of the server's SIGTERM handler; returns what undoes it."""
    state.draining = False
    if drain_s <= 0 or threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals belong to the main thread (a server run by tests is not)
    server_handler = signal.getsignal(signal.SIGTERM)
    if not callable(server_handler):
        return lambda: None
    loop = asyncio.get_running_loop()

    def on_sigterm(sig: int, frame: FrameType | None) -> None:
        if state.draining:
            server_handler(sig, frame)
            return
        state.draining = True
        loop.call_soon_threadsafe(loop.call_later, drain_s, server_handler, sig, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    return lambda: signal.signal(signal.SIGTERM, server_handler)
