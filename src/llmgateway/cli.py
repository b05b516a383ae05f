"""The `llmgateway` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import Any, Sequence

from llmgateway.client_errors import LLMGatewayError
from llmgateway.settings import get_settings
from llmgateway.version import __version__

# The server's HTTP/1.1 protocol (bounded request head, coalesced writes, departure notices).
HTTP_PROTOCOL = "llmgateway.api.http_protocol:BoundedHeadHttpProtocol"


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from llmgateway.workers import serve_workers, spreads_connections

    settings = get_settings()
    host, port = args.host or settings.host, args.port or settings.port
    # The workers read their settings afresh: they learn the address they serve on (for the
    # start banner) from the environment, as they would from the operator.
    os.environ.update(LLMGATEWAY_HOST=host, LLMGATEWAY_PORT=str(port))
    get_settings.cache_clear()
    server: dict[str, Any] = dict(
        app="llmgateway.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=args.workers or settings.workers,
        log_level=settings.log_level,
        access_log=not settings.access_log,  # the gateway writes its own, as JSON
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        http=HTTP_PROTOCOL,
        ws="none",  # no WebSocket routes: uvicorn would import websockets for none (0.6 MiB at start)
    )
    if server["workers"] > 1 and spreads_connections():
        serve_workers(uvicorn.Config(**server))
    else:
        uvicorn.run(**server)
    return 0


def _gateway_url(args: argparse.Namespace) -> str:
    settings = get_settings()
    return args.url or os.environ.get("LLMGATEWAY_URL") or f"http://{settings.host}:{settings.port}"


def _parse_parameters(pairs: list[str]) -> dict[str, Any]:
    """`-p temperature=0.2 -p stop=END` -> {"temperature": 0.2, "stop": "END"}."""
    parameters: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"llmgateway: parameter {pair!r} is not KEY=VALUE")
        try:
            parameters[key] = json.loads(value)
        except json.JSONDecodeError:
            parameters[key] = value
    return parameters


def _chat(args: argparse.Namespace) -> int:
    from llmgateway.client import LLM

    with LLM(args.model, url=_gateway_url(args)) as llm:
        final: dict[str, Any] = {}
        try:
            for chunk in llm.chat(args.question, is_stream=True, parameters=_parse_parameters(args.parameter)):
                text = chunk.get("chat_output_stream") or ""
                if text:
                    sys.stdout.write(text)
                    sys.stdout.flush()
                if "metrics" in chunk:
                    final = chunk
        except LLMGatewayError as exc:
            if exc.error_type != "missing_api_key":
                raise
            raise SystemExit(_missing_key_message(args, args.model.partition("/")[0])) from None
        sys.stdout.write("\n")
    metrics = final.get("metrics") or {}
    cost = metrics.get("cost_usd")
    print(
        f"[{final.get('provider')}/{final.get('model')}] "
        f"{metrics.get('input_tokens')} in, {metrics.get('output_tokens')} out"
        f"{' (estimated)' if metrics.get('tokens_estimated') else ''}, "
        f"cost {'unknown' if cost is None else f'${cost:.6f}'}, "
        f"latency {metrics.get('latency_s', 0):.3f} s, "
        f"first token {metrics.get('time_to_first_token_s') or 0:.3f} s, "
        f"{metrics.get('tokens_per_second', 0):.1f} tokens/s",
        file=sys.stderr,
    )
    return 0


def _missing_key_message(args: argparse.Namespace, provider: str) -> str:
    """The gateway's own message speaks to API clients; a CLI user sets the server's variable."""
    missing = _get(args, "/api/engine/providers", detail="true").get(provider, {}).get("missing") or ["its key"]
    return (
        f"llmgateway: the gateway has no key for {provider}: set {', '.join(missing)} where "
        "`llmgateway serve` runs (its environment or .env), then restart it"
    )


def _send(args: argparse.Namespace, method: str, path: str, **request: Any) -> Any:
    """One request to the running gateway; a gateway that is not there is a clear exit."""
    import httpx

    url = _gateway_url(args)
    try:
        return httpx.request(method, f"{url}{path}", timeout=30, **request)
    except httpx.TransportError:
        raise SystemExit(
            f"llmgateway: cannot reach the gateway at {url}; start it with `llmgateway serve`, "
            "or set LLMGATEWAY_URL to where it runs"
        ) from None


def _get(args: argparse.Namespace, path: str, **params: Any) -> Any:
    response = _send(args, "GET", path, params={k: v for k, v in params.items() if v is not None})
    if response.status_code != 200:
        raise SystemExit(f"llmgateway: {response.status_code} {response.text}")
    return response.json()


def _admin(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """A call of the admin API, with the master key of this environment (LLMGATEWAY_MASTER_KEY)."""
    master_key = get_settings().master_key
    if master_key is None:
        raise SystemExit("llmgateway: set LLMGATEWAY_MASTER_KEY (the gateway's) to manage keys and teams")
    response = _send(args, method, f"/api/admin{path}", json=body,
                     headers={"Authorization": f"Bearer {master_key.get_secret_value()}"})  # fmt: skip
    if response.status_code >= 400:
        raise SystemExit(f"llmgateway: {response.json().get('error', {}).get('message', response.text)}")
    return response.json()


def _keys(args: argparse.Namespace) -> int:
    if args.action == "create":
        expires = args.expires_in_days * 86400 if args.expires_in_days else None
        key = _admin(args, "POST", "/keys", {"name": args.name, "owner": args.owner, "team": args.team, "models": args.model or None,
                                             **_limits(args), "retries": args.retries, "timeout_s": args.timeout,
                                             "expires_in_s": expires})  # fmt: skip
        print(f"{key['key']}\n(key {key['id']}: shown once, keep it now)")
    elif args.action == "list":
        for key in _admin(args, "GET", "/keys"):
            state = "revoked" if key["revoked_at"] else "active"
            budget = f"${key['budget_usd']:g}/{key['budget_period']}" if key["budget_usd"] is not None else "-"
            print(f"{key['id']}  {key['hint']}...  {key['name']:<20} {state:<8} rpm {key['rpm'] or '-'}  tpm {key['tpm'] or '-'}  "
                  f"parallel {key['max_parallel'] or '-'}  budget {budget}  models {','.join(key['allowed_models'] or ['*'])}")  # fmt: skip
    elif args.action == "show":
        print(json.dumps(_admin(args, "GET", f"/keys/{args.name}"), indent=2))
    elif args.action == "rotate":
        key = _admin(args, "POST", f"/keys/{args.name}/rotate", {"grace_s": args.grace_hours * 3600})
        print(f"{key['key']}\n(key {key['id']}: shown once; the old value works {args.grace_hours:g} h more)")
    else:
        _admin(args, "POST", f"/keys/{args.name}/revoke")
        print(f"revoked {args.name}")
    return 0


def _teams(args: argparse.Namespace) -> int:
    if args.action == "create":
        team = _admin(args, "POST", "/teams", {"name": args.name, **_limits(args)})
        print(f"{team['id']}  {team['name']}")
    else:
        for team in _admin(args, "GET", "/teams"):
            print(f"{team['id']}  {team['name']:<20} rpm {team['rpm'] or '-'}  tpm {team['tpm'] or '-'}  "
                  f"parallel {team['max_parallel'] or '-'}")  # fmt: skip
    return 0


def _limits(args: argparse.Namespace) -> dict[str, Any]:
    """The limits and budget a key or a team is created with."""
    return {"rpm": args.rpm, "tpm": args.tpm, "max_parallel": args.max_parallel, "budget_usd": args.budget,
            "budget_period": args.period}  # fmt: skip


def _add_limit_options(parser: argparse.ArgumentParser, whose: str) -> None:
    parser.add_argument("--rpm", type=int, help=f"requests a minute{whose}")
    parser.add_argument("--tpm", type=int, help=f"tokens (input and output) a minute{whose}")
    parser.add_argument("--max-parallel", type=int, help=f"requests in flight at once{whose}")
    parser.add_argument("--budget", type=float, help=f"USD{whose} per period")
    parser.add_argument("--period", choices=["day", "week", "month", "total"], default="month", help="the budget's period (month)")


def _providers(args: argparse.Namespace) -> int:
    for provider_id, detail in _get(args, "/api/engine/providers", detail="true").items():
        state = "ready" if detail["ready"] else "missing: " + ", ".join(detail["missing"])
        print(f"{provider_id:<20} {detail['name']:<24} {state}")
    return 0


def _models(args: argparse.Namespace) -> int:
    if args.provider:
        catalog = {args.provider: _get(args, "/api/engine/models", provider=args.provider)}
    else:
        catalog = _get(args, "/api/engine/models")
    for provider_id, entry in catalog.items():
        for model in entry["models"]:
            print(f"{provider_id}/{model}")
    return 0


def _logs(args: argparse.Namespace) -> int:
    rows = _get(args, "/api/tracking/logs", limit=args.tail)
    for row in reversed(rows):
        moment = datetime.fromtimestamp(row["timestamp"]).strftime("%Y-%m-%d %H:%M:%S")
        cost = row.get("cost_usd")
        latency = row.get("latency_s")
        print(
            f"{moment}  {row['status']:<9} {row['provider']}/{row['model_requested']:<28} "
            f"{row.get('input_tokens') or 0:>6} in {row.get('output_tokens') or 0:>6} out  "
            f"{'-' if latency is None else f'{latency:.3f} s':>9}  {'-' if cost is None else f'${cost:.6f}'}"
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

    url_help = "the gateway's URL (LLMGATEWAY_URL, default http://LLMGATEWAY_HOST:LLMGATEWAY_PORT)"
    chat = commands.add_parser("chat", help="ask a model; the answer streams, then its metrics")
    chat.add_argument("model", help="provider/model, e.g. openai/gpt-4o-mini")
    chat.add_argument("question")
    chat.add_argument("-p", "--parameter", action="append", default=[], help="KEY=VALUE, e.g. temperature=0.2")
    chat.add_argument("--url", help=url_help)
    chat.set_defaults(handler=_chat)

    providers = commands.add_parser("providers", help="the providers, and whether each is ready")
    providers.add_argument("--url", help=url_help)
    providers.set_defaults(handler=_providers)

    models = commands.add_parser("models", help="the models, as provider/model")
    models.add_argument("provider", nargs="?")
    models.add_argument("--url", help=url_help)
    models.set_defaults(handler=_models)

    logs = commands.add_parser("logs", help="the latest requests of the log")
    logs.add_argument("--tail", type=int, default=20, help="how many (default 20)")
    logs.add_argument("--url", help=url_help)
    logs.set_defaults(handler=_logs)

    keys = commands.add_parser("keys", help="virtual keys: create, list, show, rotate, revoke (needs LLMGATEWAY_MASTER_KEY)")
    keys.add_argument("action", choices=["create", "list", "show", "rotate", "revoke"])
    keys.add_argument("name", nargs="?", help="the new key's name (create), or a key's id (show, rotate, revoke)")
    keys.add_argument("--grace-hours", type=float, default=24.0, help="rotate: how long the old value keeps working (24)")
    keys.add_argument("--team", help="the team's name or id")
    keys.add_argument("--owner")
    keys.add_argument("--model", action="append", help="a model the key may use (provider/model, provider/*, a route); repeatable")
    _add_limit_options(keys, "")
    keys.add_argument("--retries", type=int, help="its requests' retries: the default, and the most they may ask")
    keys.add_argument("--timeout", type=float, help="its requests' timeout in seconds: the default, and the most")
    keys.add_argument("--expires-in-days", type=float)
    keys.add_argument("--url", help=url_help)
    keys.set_defaults(handler=_keys)

    teams = commands.add_parser("teams", help="teams: create, list (needs LLMGATEWAY_MASTER_KEY)")
    teams.add_argument("action", choices=["create", "list"])
    teams.add_argument("name", nargs="?")
    _add_limit_options(teams, ", for the team's keys together")
    teams.add_argument("--url", help=url_help)
    teams.set_defaults(handler=_teams)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except LLMGatewayError as exc:
        print(f"llmgateway: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
