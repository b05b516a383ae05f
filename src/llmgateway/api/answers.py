"""How every `/v1` surface answers a call: a stream in the surface's chunk format, or one
JSON body in its shape, with the call's headers, and the metrics as `x-llmgateway-*` headers
so that strict clients (which drop unknown body fields) still see them."""

from __future__ import annotations

from typing import Any, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from llmgateway.api.call_headers import call_headers
from llmgateway.api.departures import client_left_response, unless_the_client_leaves
from llmgateway.api.engine import gateway_of
from llmgateway.api.sse import ChunkFormat, stream_response
from llmgateway.vocabulary.requests import ChatRequest
from llmgateway.vocabulary.results import CallResult


async def answer(
    request: Request, chat_request: ChatRequest, shape: Callable[[CallResult], dict[str, Any]], stream: ChunkFormat | None
) -> Response:
    """Start the call; stream it in `stream`'s format, or answer `shape(result)` once it ends."""
    call = await gateway_of(request).start(chat_request)
    request.state.call = call  # for the access log
    headers = {"x-llmgateway-request-id": call.id, "x-llmgateway-provider": chat_request.provider.id,
               **call_headers(call, chat_request)}  # fmt: skip
    if stream is not None:
        return await stream_response(request, call, stream, headers)
    result = await unless_the_client_leaves(request, call, call.complete())
    if result is None:
        return client_left_response()
    headers["x-llmgateway-provider"] = result.request.provider.id  # the target that served
    return Response(orjson.dumps(shape(result)), media_type="application/json",
                    headers={**headers, **metric_headers(result.metrics)})  # fmt: skip


def send_as_written(
    chat_request: ChatRequest, body: dict[str, Any], speaks: Callable[[ChatRequest], bool], features: tuple[str, ...] = ()
) -> None:
    """The targets that `speaks` the surface's own wire format get the client's body as it was
    written instead of the translation, so what the gateway does not model still arrives; with
    `features`, the vendor features the client named (each checked by the adapter against the
    server's allowed values)."""
    for target in (chat_request, *chat_request.fallbacks):
        if speaks(target):
            target.native_body, target.vendor_features = body, features


def metric_headers(metrics: dict[str, Any]) -> dict[str, str]:
    """The metrics as `x-llmgateway-*` headers (metrics without a value left out)."""
    names = ("latency_s", "time_to_first_token_s", "inter_token_latency_s", "tokens_per_second",
             "input_tokens", "output_tokens", "cost_usd")  # fmt: skip
    values: dict[str, Any] = {name.replace("_", "-"): metrics.get(name) for name in names}
    values["tokens-estimated"] = str(metrics["tokens_estimated"]).lower()
    return {f"x-llmgateway-{k}": f"{v:.6g}" if isinstance(v, float) else str(v) for k, v in values.items() if v is not None}
