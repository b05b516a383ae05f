"""The `llmgateway` command line."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from llmgateway import __version__
from llmgateway.settings import get_settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "llmgateway.api.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmgateway", description="An LLM gateway with honest metrics.")
    parser.add_argument("--version", action="version", version=f"llmgateway {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway (default 127.0.0.1:8000)")
    serve.add_argument("--host", help="address to bind (LLMGATEWAY_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (LLMGATEWAY_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (LLMGATEWAY_WORKERS, default 1)")
    serve.set_defaults(handler=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
