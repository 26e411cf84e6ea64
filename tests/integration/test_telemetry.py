"""Tracing honours the standard OTEL_* variables, over both OTLP protocols."""

from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider

from shared.telemetry import otlp_processor
from tests.support import OtlpReceiver, free_port, wait_until


class GrpcReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.names: list[str] = []
        self.port = free_port()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self.server)
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")
        self.server.start()

    def Export(self, request, context):  # noqa: N802
        for resource_spans in request.resource_spans:
            for scope in resource_spans.scope_spans:
                self.names.extend(span.name for span in scope.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


def export_one_span(name: str) -> None:
    provider = TracerProvider()
    provider.add_span_processor(otlp_processor())
    with provider.get_tracer("test").start_as_current_span(name):
        pass
    provider.force_flush()
    provider.shutdown()


def test_grpc_protocol(monkeypatch):
    receiver = GrpcReceiver()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{receiver.port}")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        export_one_span("over-grpc")
        wait_until(lambda: "over-grpc" in receiver.names, timeout=10, what="span over gRPC")
    finally:
        receiver.server.stop(None)


def test_http_protobuf_protocol_and_traces_specific_variables(monkeypatch):
    receiver = OtlpReceiver()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # overridden below
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{receiver.endpoint}/v1/traces")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
        export_one_span("over-http")
        wait_until(lambda: any(s["name"] == "over-http" for s in receiver.spans), timeout=10,
                   what="span over HTTP")
    finally:
        receiver.stop()


def test_no_endpoint_means_no_exporter(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert otlp_processor() is None


def test_unknown_protocol_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    with pytest.raises(ValueError, match="carrier-pigeon"):
        otlp_processor()
