"""OpenTelemetry traces (off by default): one span per request, a child span per attempt.

Spans carry the GenAI semantic-convention attributes (gen_ai.system, gen_ai.request.model,
gen_ai.response.model, gen_ai.usage.input_tokens, ...). Turned on with
LLMGATEWAY_OTEL_ENABLED=true; the OTLP/HTTP exporter reads the standard variables
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME, ...).
Off, the tracer is OpenTelemetry's no-op one, which costs next to nothing.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from opentelemetry import trace

from llmgateway.version import __version__

if TYPE_CHECKING:  # the SDK is imported only when tracing is on
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

_NOOP = trace.NoOpTracer()


def build_tracer(enabled: bool, exporter: SpanExporter | None = None) -> tuple[trace.Tracer, TracerProvider | None]:
    """The gateway's tracer and, when tracing is on, its provider (to shut down at exit).

    `exporter` replaces the OTLP exporter when tracing is on (tests use an in-memory one,
    exported at once); with tracing off there is no tracer to export from.
    """
    if not enabled:
        return _NOOP, None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "llmgateway"),
                                "service.version": __version__})  # fmt: skip
    provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider.get_tracer("llmgateway", __version__), provider
