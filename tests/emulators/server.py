"""Run an ASGI app on a real loopback socket in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import uvicorn


class ThreadServer:
    """An ASGI app served by uvicorn on a free loopback port, in a background thread."""

    def __init__(self, app, host: str = "127.0.0.1", lifespan: str = "off", http: str = "auto") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.url = f"http://{host}:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan=lifespan, timeout_keep_alive=30, backlog=4096, http=http)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Ask the server to shut down (it closes its socket, then runs its lifespan's end)."""
        self._server.should_exit = True

    def join(self) -> None:
        """Wait until it has shut down."""
        self._thread.join(timeout=10)
        self._sock.close()


@contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", lifespan: str = "off") -> Iterator[str]:
    """Serve `app` on a free port of `host`; yields its base URL (http://127.0.0.1:PORT), and
    returns once the server has shut down."""
    server = ThreadServer(app, host, lifespan)
    try:
        yield server.url
    finally:
        server.stop()
        server.join()
