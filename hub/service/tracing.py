"""OpenTelemetry traces of the ASGI app and of asyncpg, sent over OTLP/HTTP, when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set; otherwise nothing of OpenTelemetry is even imported.

The exporter reads the standard `OTEL_*` variables itself (`OTEL_SERVICE_NAME`,
`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_SCHEDULE_DELAY`...).
"""

from __future__ import annotations

import os
from typing import Any

ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
_started = False


def enabled() -> bool:
    return bool(os.environ.get(ENDPOINT))


def traced(app: Any) -> Any:
    """`app` with a span for each request, once the tracer is set up; `app` itself when
    tracing is off."""
    if not enabled():
        return app
    _start()
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(app)


def _start() -> None:
    """The tracer provider and asyncpg's instrumentation, once per process."""
    global _started
    if _started:
        return
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as missing:
        raise RuntimeError(
            f"{ENDPOINT} is set but OpenTelemetry is not installed: install the hub with its "
            f"`otel` extra (pip install 'hub[otel]') ({missing})"
        ) from None
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "hub")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument()
    _started = True
