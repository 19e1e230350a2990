"""`python -m serving` configured as in production (OTEL_TRACES_EXPORTER=otlp over http/protobuf) exports its
spans to an OTLP/HTTP receiver on loopback; a client's trace shows the server's spans under its own."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from clients import GrpcClient, RestClient  # noqa: E402
from serving.testing.models import build_half_plus_two  # noqa: E402
from serving.testing.server_process import ServerProcess, wait_for  # noqa: E402


class Receiver:
    """An OTLP/HTTP trace receiver: accepts the protobuf POSTs to /v1/traces and keeps their spans."""

    def __init__(self) -> None:
        self.spans: list = []  # (resource attributes, span)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                with receiver.lock:
                    for resource_spans in request.resource_spans:
                        resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                        for scope in resource_spans.scope_spans:
                            receiver.spans.extend((resource, span) for span in scope.spans)
                answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                return

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.http.shutdown()
        self.http.server_close()

    def of_trace(self, trace_id: int) -> list:
        wanted = trace_id.to_bytes(16, "big")
        with self.lock:
            return [(resource, span) for resource, span in self.spans if span.trace_id == wanted]


def test_a_clients_trace_shows_the_servers_spans_under_its_own(tmp_path):
    base = build_half_plus_two(tmp_path / "half_plus_two")
    client_spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(client_spans))
    tracer = provider.get_tracer("test-client")
    with Receiver() as receiver:
        environment = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_SERVICE_NAME": "serving-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        with ServerProcess(model_name="half_plus_two", model_base_path=base, env=environment) as server:
            with RestClient(server.rest_url) as rest, GrpcClient(server.grpc_address) as grpc_client:
                with tracer.start_as_current_span("pipeline step") as client_span:
                    rest_answer = rest.predict("half_plus_two", {"x": np.array([1.0], np.float32)})
                    grpc_answer = grpc_client.predict("half_plus_two", {"x": np.array([2.0], np.float32)})
            trace_id = client_span.get_span_context().trace_id
            names = {"POST /v1/models/{model}:predict", "tensorflow.serving.PredictionService/Predict"}
            wait_for(
                lambda: names <= {span.name for _, span in receiver.of_trace(trace_id)},
                timeout=30,
                what="the server's request spans at the OTLP receiver",
            )
        assert "Tracing requests: OpenTelemetry spans to otlp_proto_http" in server.log()
    np.testing.assert_allclose(rest_answer["y"], [2.5])
    np.testing.assert_allclose(grpc_answer["y"], [3.0])
    spans = receiver.of_trace(trace_id)
    client_id = client_span.get_span_context().span_id.to_bytes(8, "big")
    by_id = {span.span_id: span for _, span in spans}
    assert {resource["service.name"] for resource, _ in spans} == {"serving-under-test"}
    requests = [span for _, span in spans if span.name in names]
    assert len(requests) == 2
    for request in requests:
        assert request.parent_span_id == client_id  # directly under the client's span
        assert request.kind == request.SPAN_KIND_SERVER
        children = sorted(span.name for span in by_id.values() if span.parent_span_id == request.span_id)
        assert {"decode", "model.run", "encode"} <= set(children), children
