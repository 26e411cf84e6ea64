"""The one place where tracing is set up.

Honours the standard OTEL_* variables: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT,
OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL (``grpc`` or ``http/protobuf``, the default),
OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_* and OTEL_SDK_DISABLED. With no endpoint, spans are made
(so trace ids reach logs and messages) but not exported.
"""

import os

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy.ext.asyncio import AsyncEngine


def _env(name: str) -> str:
    return os.environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or os.environ.get(
        f"OTEL_EXPORTER_OTLP_{name}", ""
    )


def otlp_processor() -> SpanProcessor | None:
    if not _env("ENDPOINT"):
        return None
    protocol = _env("PROTOCOL") or "http/protobuf"
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    else:
        raise ValueError(f"unsupported OTLP protocol {protocol!r}: use grpc or http/protobuf")
    return BatchSpanProcessor(OTLPSpanExporter())


def setup_tracing(service: str) -> TracerProvider | None:
    """Install the global tracer provider for this process (once)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    name = os.environ.get("OTEL_SERVICE_NAME") or f"duban-{service}"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if (processor := otlp_processor()) is not None:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()
    return provider


def current_trace_id() -> str | None:
    """The trace the current work belongs to (32 hex digits), if there is one."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def instrument_app(app) -> None:
    # One server span per request; not one more for each ASGI receive and send message.
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics",
                                       exclude_spans=["receive", "send"])


def instrument_engine(engine: AsyncEngine) -> None:
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine)


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


class FreshTraceContext:
    """ASGI wrapper: every request starts from an empty trace context. uvicorn may start the next
    request on a kept-alive connection from inside the previous one's context, and a request with
    no ``traceparent`` would then join the previous request's trace."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        token = otel_context.attach(otel_context.Context())
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)
