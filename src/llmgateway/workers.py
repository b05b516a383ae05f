"""Several worker processes, each accepting connections on a socket of its own.

uvicorn's `--workers` binds one listening socket and shares it among the workers: the kernel
hands each new connection to whichever worker is waiting in accept, so clients that keep their
connections open (a load balancer, an ingress, a load generator) can end up with most of them
on one worker while another idles (seen in the peer harness: 32 keep-alive connections, two
workers, 104% CPU between them). On Linux each worker binds its own socket to the address with
SO_REUSEPORT instead, and the kernel spreads connections over the workers by a hash of their
addresses, as nginx's `reuseport` and gunicorn's `--reuse-port` do.

uvicorn's supervisor stays in charge (health pings, restarts, signals): it hands every worker
it starts the sockets it was given, pickled. A `WorkerSocket` pickles as its address, so each
worker, a restarted one too, unpickles a socket of its own, bound afresh.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

STARTUP_FAILURE = 3  # uvicorn's exit status when it cannot start


def spreads_connections() -> bool:
    """Whether sockets bound with SO_REUSEPORT share an address's connections (Linux);
    elsewhere the option exists with other meanings, and the shared socket is kept."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


class WorkerSocket(socket.socket):
    """A socket bound with SO_REUSEPORT, which a worker process receives as a new one of its own."""

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return _bound_socket, (self.family, self.getsockname())


def _bound_socket(family: socket.AddressFamily, address: Any) -> WorkerSocket:
    sock = WorkerSocket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def _address_is_free(family: socket.AddressFamily, address: tuple[str, int]) -> None:
    """Raise OSError when something already listens on the address: a socket bound without
    SO_REUSEPORT is refused by any listener, so a second gateway started on the same port
    fails, as with one worker, instead of silently sharing the first one's connections."""
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)


def serve_workers(config: uvicorn.Config) -> None:
    """Run `config.workers` workers under uvicorn's supervisor, each on its own socket."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    address = (config.host, config.port)
    try:
        _address_is_free(family, address)
        sock = _bound_socket(family, address)
    except OSError as exc:
        uvicorn.config.logger.error(exc)
        sys.exit(STARTUP_FAILURE)
    uvicorn.config.logger.info(
        "Uvicorn running on http://%s:%d with %d workers, each on its own socket (Press CTRL+C to quit)",
        config.host, sock.getsockname()[1], config.workers,
    )  # fmt: skip
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
