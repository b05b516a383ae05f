"""Prometheus metrics of the gateway (prometheus-client), served at GET /metrics.

Every label is bounded: providers come from the catalog, models are the catalog's names
(dated snapshots folded into their model; anything else is "other"), statuses are three.
"""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from llmgateway.catalog import ProviderSpec
from llmgateway.vocabulary.results import CallResult, EmbeddingOutcome

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
_TTFT_BUCKETS = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 2, 4, 8, 15, 30)
_ITL_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1)


# The request log writer's counts, as gauges: writer stat -> (gauge, description).
_TRACKING_GAUGES = {
    "queue_depth": ("llmgateway_tracking_queue_depth", "Records waiting for the background writer."),
    "spilled": ("llmgateway_tracking_spilled_records", "Records sent to the spill file since start."),
    "dead_lettered": ("llmgateway_tracking_dead_lettered_records",
                      "Records the database refused, kept in the dead-letter file, since start."),
    "buffered": ("llmgateway_tracking_buffered_records",
                 "Records waiting in memory: neither the database nor the disk takes them now."),
    "dropped": ("llmgateway_tracking_dropped_records", "Records lost for want of database, disk and memory, since start."),
}  # fmt: skip


_Metric = Counter | Histogram


def model_label(result: CallResult) -> str:
    spec = result.request.provider.model(result.model) or result.request.model_spec
    return spec.name if spec is not None else "other"


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("provider", "model")
        self.requests = Counter("llmgateway_requests", "Requests finished (chat, embeddings, refusals), by outcome.",
                                (*labels, "status"), registry=self.registry)  # fmt: skip
        self.latency = Histogram("llmgateway_request_latency_seconds", "From receipt to the last upstream event.",
                                 labels, buckets=_LATENCY_BUCKETS, registry=self.registry)  # fmt: skip
        self.ttft = Histogram("llmgateway_time_to_first_token_seconds", "From receipt to the first output.",
                              labels, buckets=_TTFT_BUCKETS, registry=self.registry)  # fmt: skip
        self.itl = Histogram("llmgateway_inter_token_latency_seconds", "Mean gap between output events of a call.",
                             labels, buckets=_ITL_BUCKETS, registry=self.registry)  # fmt: skip
        self.tokens = Counter("llmgateway_tokens", "Tokens, as the vendors report them.",
                              (*labels, "kind"), registry=self.registry)  # fmt: skip
        self.cost = Counter("llmgateway_cost_usd", "Cost of calls with a known price, in USD.", labels, registry=self.registry)
        self.in_flight = Gauge("llmgateway_requests_in_flight", "Chat and embedding calls under way.",
                               registry=self.registry)  # fmt: skip
        self.cache_requests = Counter("llmgateway_cache_requests", "Cacheable requests, by what the cache did.",
                                      ("result",), registry=self.registry)  # fmt: skip
        # per team (teams are made by the admin API: a bounded label set), by the team's id
        self.team_cost = Counter("llmgateway_team_cost_usd", "Cost of the calls made with a team's keys, in USD.",
                                 ("team",), registry=self.registry)  # fmt: skip
        self.cache_saved = Counter("llmgateway_cache_saved_usd", "What cache hits would have cost, in USD.",
                                   registry=self.registry)  # fmt: skip
        # Each metric's child per label values, looked up once: `labels()` checks and joins the
        # values under a lock on every call (~1 µs, six or more a request). Bounded as the labels are.
        self._children: dict[tuple[_Metric, tuple[str, ...]], _Metric] = {}

    def _child(self, metric: _Metric, *labels: str) -> _Metric:
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def watch_tracking(self, gauges: dict[str, Callable[[], float]]) -> None:
        """Gauges read at scrape time from the request log's writer."""
        for stat, (name, description) in _TRACKING_GAUGES.items():
            Gauge(name, description, registry=self.registry).set_function(gauges[stat])

    def started(self) -> None:
        self.in_flight.inc()

    def finished(self, result: CallResult) -> None:
        self.in_flight.dec()
        provider, model = result.request.provider.id, model_label(result)
        child = self._child
        child(self.requests, provider, model, result.status).inc()
        m = result.metrics
        child(self.latency, provider, model).observe(m["latency_s"])
        if m["time_to_first_token_s"] is not None:
            child(self.ttft, provider, model).observe(m["time_to_first_token_s"])
        if m["inter_token_latency_s"]:
            child(self.itl, provider, model).observe(m["inter_token_latency_s"])
        for kind in ("input", "output", "cached", "reasoning"):
            count = m[f"{kind}_tokens"]
            if count:
                child(self.tokens, provider, model, kind).inc(count)
        if m["cost_usd"]:
            child(self.cost, provider, model).inc(m["cost_usd"])
        key = result.request.origin.key
        if key is not None and key.team_id and m["cost_usd"]:
            child(self.team_cost, key.team_id).inc(m["cost_usd"])
        if "cache" in m:
            child(self.cache_requests, m["cache"]).inc()
            if m["cost_saved_usd"]:
                self.cache_saved.inc(m["cost_saved_usd"])

    def embedded(self, outcome: EmbeddingOutcome) -> None:
        self.in_flight.dec()
        provider = outcome.request.provider
        spec = provider.model(outcome.model) or provider.model(outcome.request.model)
        labels = (provider.id, spec.name if spec else "other")
        self._child(self.requests, *labels, outcome.status).inc()
        self._child(self.latency, *labels).observe(outcome.metrics["latency_s"])
        if outcome.tokens.input_tokens:
            self._child(self.tokens, *labels, "input").inc(outcome.tokens.input_tokens)
        if outcome.metrics["cost_usd"]:
            self._child(self.cost, *labels).inc(outcome.metrics["cost_usd"])

    def refused(self, provider: ProviderSpec | None, model: str) -> None:
        spec = provider.model(model) if provider is not None else None
        self._child(self.requests, provider.id if provider else "other", spec.name if spec else "other", "error").inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
