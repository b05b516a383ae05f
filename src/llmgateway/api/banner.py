"""The lines a gateway prints when it starts: where it answers and what it can serve."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

from llmgateway.core.gateway import Gateway
from llmgateway.version import __version__


def startup_banner(gateway: Gateway, readiness: dict[str, list[str]], host: str, port: int) -> str:
    """Where to point a browser or a client, which providers are ready (and what the others
    miss), and where the records go; the database password is never shown."""
    base = f"http://{host}:{port}"
    ready, not_ready = [], []
    for provider_id, missing in readiness.items():
        if missing:
            not_ready.append(f"    {provider_id}: set {', '.join(missing)}")
        else:
            ready.append(provider_id)
    lines = [
        f"llmgateway {__version__} on {base} (pid {os.getpid()})",
        f"  dashboard   {base}/dashboard/",
        f"  API docs    {base}/docs",
        f"  records     {_where_records_go(gateway.settings.database_url)}",
        f"  ready       {', '.join(ready) or 'none'}",
    ]
    if not_ready:
        lines += ["  not ready", *not_ready]
    return "\n".join(lines)


def _where_records_go(database_url: str) -> str:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"SQLite {Path(url.database).resolve() if url.database else '(in memory)'}"
    return url.render_as_string(hide_password=True)
