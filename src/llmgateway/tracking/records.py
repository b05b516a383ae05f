"""One row of the request log, made from a finished call (or a call refused before it began)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from pydantic import SecretStr

from llmgateway.errors import GatewayError
from llmgateway.vocabulary.ids import new_call_id
from llmgateway.vocabulary.requests import KeyPrincipal
from llmgateway.vocabulary.results import CallResult, EmbeddingOutcome

# The metrics kept as columns too (beside the whole `metrics` object), for filtering and SQL.
FLAT_METRICS = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "tokens_estimated", "cost_usd",
                "latency_s", "time_to_first_token_s", "inter_token_latency_s", "tokens_per_second")  # fmt: skip


def key_fingerprint(key: SecretStr | None) -> str | None:
    """A short, one-way fingerprint of a provider key: tells keys apart, reveals nothing."""
    if key is None or not key.get_secret_value():
        return None
    return "sha256:" + hashlib.sha256(key.get_secret_value().encode()).hexdigest()[:16]


def record_from_result(result: CallResult) -> dict[str, Any]:
    request = result.request
    metrics = result.metrics
    error = result.error
    record = {
        "id": result.id,
        "created_at": result.timestamp,
        "finished_at": time.time(),
        "surface": request.origin.surface,
        "provider": request.provider.id,
        "model_requested": request.model,
        "model_reported": result.model,
        "session_id": request.session_id,
        "status": result.status,
        "error_type": error.error_type if error else None,
        "error_message": error.message if error else None,
        "http_status": error.status_code if error else (200 if result.status == "success" else None),
        "chat_input": request.chat_input,
        "chat_output": result.text,
        "context": request.messages,
        "tool_calls": result.tool_calls,
        "parameters": request.effective_parameters,
        "finish_reason": result.finish_reason,
        **{name: metrics[name] for name in FLAT_METRICS},
        "metrics": metrics,
        "cache": metrics.get("cache"),
        "cost_saved_usd": metrics.get("cost_saved_usd"),
        "attempts": result.attempts,
        "client_address": request.origin.client_address,
        "key_fingerprint": key_fingerprint(request.api_key),
        **_governed_by(request.origin.key),
    }
    if not request.keep_content:
        record.update(chat_input=None, chat_output=None, context=None, tool_calls=None)
    return record


def record_of_embedding(outcome: EmbeddingOutcome) -> dict[str, Any]:
    request = outcome.request
    metrics = outcome.metrics
    error = outcome.error
    return {
        "id": outcome.id,
        "created_at": outcome.timestamp,
        "finished_at": time.time(),
        "surface": request.origin.surface,
        "provider": request.provider.id,
        "model_requested": request.model,
        "model_reported": outcome.model,
        "status": outcome.status,
        "error_type": error.error_type if error else None,
        "error_message": error.message if error else None,
        "http_status": error.status_code if error else (200 if outcome.status == "success" else None),
        "chat_input": request.inputs[0] if len(request.inputs) == 1 else None,
        "context": request.inputs if len(request.inputs) > 1 else None,
        "finish_reason": "embedding" if outcome.status == "success" else None,
        "input_tokens": metrics["input_tokens"],
        "output_tokens": 0,
        "tokens_estimated": metrics["tokens_estimated"],
        "cost_usd": metrics["cost_usd"],
        "latency_s": metrics["latency_s"],
        "metrics": metrics,
        "attempts": outcome.attempts,
        "client_address": request.origin.client_address,
        "key_fingerprint": key_fingerprint(request.api_key),
    }


def record_of_refusal(
    error: GatewayError,
    *,
    surface: str,
    provider: str,
    model: str,
    session_id: str | None,
    client_address: str | None,
    latency_s: float,
    key: KeyPrincipal | None = None,
) -> dict[str, Any]:
    """A request refused before any upstream call (unknown provider, no key, bad parameter)."""
    now = time.time()
    return {
        "id": new_call_id(),
        "created_at": now - latency_s,
        "finished_at": now,
        "surface": surface,
        "provider": provider[:64],
        "model_requested": model[:256],
        "session_id": session_id,
        "status": "error",
        "error_type": error.error_type,
        "error_message": error.message,
        "http_status": error.status_code,
        "latency_s": latency_s,
        "client_address": client_address,
        **_governed_by(key),
    }


def _governed_by(key: KeyPrincipal | None) -> dict[str, Any]:
    return {"virtual_key_id": key.id, "team_id": key.team_id} if key is not None else {}


def record_of_client_log(log: dict[str, Any], client_address: str | None) -> dict[str, Any]:
    """A result a client posted to the tracker API (LLMstudio's `LogDefaultCreate`) as a record.

    Its `id`, when it names a request the gateway recorded, makes it that record (see
    RequestStore.merge_client_log); otherwise it stands alone, as surface `tracker`.
    """
    now = time.time()
    metrics = log.get("metrics") if isinstance(log.get("metrics"), dict) else None
    record: dict[str, Any] = {
        "id": str(log.get("id") or new_call_id()),
        "created_at": now,
        "finished_at": now,
        "surface": "tracker",
        "provider": str(log.get("provider") or "unknown"),
        "model_requested": str(log.get("model") or "unknown"),
        "model_reported": log.get("deployment"),
        "session_id": log.get("session_id"),
        "status": "success",
        "chat_input": log.get("chat_input") if isinstance(log.get("chat_input"), str) else None,
        "chat_output": log.get("chat_output"),
        "context": log.get("context"),
        "parameters": log.get("parameters"),
        "metrics": metrics,
        "client_address": client_address,
    }
    record.update({name: metrics.get(name) for name in FLAT_METRICS} if metrics else {})
    return record
