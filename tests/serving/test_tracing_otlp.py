"""`python -m serving` configured as in production (OTEL_TRACES_EXPORTER=otlp over http/protobuf) exports its
spans to an OTLP/HTTP receiver on loopback; a client's trace shows the server's spans under its own."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from clients import GrpcClient, RestClient  # noqa: E402
from serving.testing.models import build_half_plus_two  # noqa: E402
from serving.testing.otlp import Receiver  # noqa: E402
from serving.testing.server_process import ServerProcess, wait_for  # noqa: E402


def test_a_clients_trace_shows_the_servers_spans_under_its_own(tmp_path):
    base = build_half_plus_two(tmp_path / "half_plus_two")
    client_spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(client_spans))
    tracer = provider.get_tracer("test-client")
    with Receiver() as receiver:
        environment = receiver.environment(OTEL_SERVICE_NAME="serving-under-test")
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
