"""Traces: a client's trace continues through the server, with the server's spans under the client's own.

Here the server runs in this process (its gRPC and REST ports on 127.0.0.1, requests from the real clients)
and spans go to the SDK's in-memory exporter; tests/serving/test_tracing_otlp.py runs `python -m serving` as
configured in production, exporting OTLP/HTTP to a receiver on loopback.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import context as otel_context  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from clients import GrpcClient, RestClient  # noqa: E402
from clients.errors import ServingError as ClientError  # noqa: E402
from serving import tracing  # noqa: E402
from serving.testing.models import build_half_plus_two  # noqa: E402
from serving.testing.server_process import free_port, model_config_text  # noqa: E402

BATCHING = "max_batch_size { value: 8 } batch_timeout_micros { value: 200000 } num_batch_threads { value: 1 }\n"


class InProcessServer:
    """serving.server.Server's parts, started in this process: models loaded, gRPC and REST on loopback."""

    def __init__(self, args: list[str]):
        from serving.flags import parse_flags
        from serving.server import Server

        self.grpc_port, self.rest_port = free_port(), free_port()
        flags = [f"--port={self.grpc_port}", "--grpc_host=127.0.0.1"]
        flags += [f"--rest_api_port={self.rest_port}", "--rest_api_host=127.0.0.1", *args]
        self.server = Server(parse_flags(flags))

    def __enter__(self) -> InProcessServer:
        from serving.api.tfs_grpc import build_server
        from serving.api.tfs_rest import RestServer

        self.server.build()
        options = self.server.options
        self.grpc = build_server(self.server.manager, options)
        self.grpc.start()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.rest = RestServer(self.server.manager, options)
        asyncio.run_coroutine_threadsafe(self.rest.start("127.0.0.1", self.rest_port), self.loop).result(30)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.rest.stop(), self.loop).result(90)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.grpc.stop(0).wait()
        self.server.manager.stop()
        if self.server.scheduler is not None:
            self.server.scheduler.stop()


@pytest.fixture(scope="module")
def exporter():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)  # the server's spans, and the client's below, in one in-memory list
    yield exporter
    tracing.install(None)


@pytest.fixture(scope="module")
def server(tmp_path_factory, exporter):
    root = tmp_path_factory.mktemp("tracing")
    build_half_plus_two(root / "half_plus_two")
    batched = build_half_plus_two(root / "batched")
    (batched / "1" / "batching_params.pbtxt").write_text(BATCHING)
    (root / "batching.config").write_text(BATCHING)
    config = root / "models.config"
    config.write_text(
        model_config_text(
            [
                {"name": "half_plus_two", "base_path": root / "half_plus_two"},
                {"name": "batched", "base_path": batched},
            ]
        )
    )
    args = [
        f"--model_config_file={config}",
        "--file_system_poll_wait_seconds=0",
        "--enable_batching",
        f"--batching_parameters_file={root / 'batching.config'}",
        "--enable_per_model_batching_parameters",
    ]
    with InProcessServer(args) as process:
        yield process


@pytest.fixture
def client_tracer(exporter):
    exporter.clear()
    return tracing._provider.get_tracer("test-client")


def _children(spans, parent) -> list:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _server_spans(spans, client_span, name: str) -> list:
    """The server spans named `name` whose parent is the client's span."""
    return [
        s
        for s in spans
        if s.kind == SpanKind.SERVER
        and s.name == name
        and s.parent is not None
        and s.parent.span_id == client_span.context.span_id
    ]


def test_rest_predict_continues_the_clients_trace(server, exporter, client_tracer):
    with RestClient(f"http://127.0.0.1:{server.rest_port}") as client:
        with client_tracer.start_as_current_span("client call") as client_span:
            outputs = client.predict("half_plus_two", {"x": np.array([1.0, 2.0], np.float32)})
    np.testing.assert_allclose(outputs["y"], [2.5, 3.0])
    spans = exporter.get_finished_spans()
    (request,) = _server_spans(spans, client_span, "POST /v1/models/{model}:predict")
    assert request.context.trace_id == client_span.context.trace_id
    assert request.attributes["serving.model.name"] == "half_plus_two"
    assert request.attributes["serving.model.version"] == 1
    assert request.attributes["serving.model.signature_name"] == "serving_default"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["http.request.method"] == "POST"
    names = [s.name for s in _children(spans, request)]
    for expected in ("decode", "model.run", "encode"):
        assert expected in names, names
    # the metadata read the client made first is a request of the same trace too
    assert _server_spans(spans, client_span, "GET /v1/models/{model}/metadata")


def test_grpc_predict_continues_the_clients_trace(server, exporter, client_tracer):
    with GrpcClient(f"127.0.0.1:{server.grpc_port}") as client:
        with client_tracer.start_as_current_span("client call") as client_span:
            outputs = client.predict("half_plus_two", {"x": np.array([3.0], np.float32)})
    np.testing.assert_allclose(outputs["y"], [3.5])
    spans = exporter.get_finished_spans()
    (request,) = _server_spans(spans, client_span, "tensorflow.serving.PredictionService/Predict")
    assert request.context.trace_id == client_span.context.trace_id
    assert request.attributes["rpc.system"] == "grpc"
    assert request.attributes["rpc.service"] == "tensorflow.serving.PredictionService"
    assert request.attributes["rpc.method"] == "Predict"
    assert request.attributes["rpc.grpc.status_code"] == 0
    assert request.attributes["serving.model.version"] == 1
    names = [s.name for s in _children(spans, request)]
    assert names.count("model.run") == 1 and "decode" in names and "encode" in names, names


def test_rest_request_on_a_worker_thread_keeps_its_trace(server, exporter, client_tracer):
    """Requests in flight together go to worker threads: the wait for one is a `queue.worker` span."""
    with RestClient(f"http://127.0.0.1:{server.rest_port}") as client:
        client.metadata("half_plus_two")
        with client_tracer.start_as_current_span("client call") as client_span:
            context = otel_context.get_current()

            def call(x: float):
                token = otel_context.attach(context)  # the client span is current on each pool thread
                try:
                    return client.regress("half_plus_two", [{"x": x}], signature="regress_x_to_y")
                finally:
                    otel_context.detach(token)

            with ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(call, [1.0, 2.0, 3.0, 4.0]))
    assert answers == [[2.5], [3.0], [3.5], [4.0]]
    spans = exporter.get_finished_spans()
    requests = _server_spans(spans, client_span, "POST /v1/models/{model}:regress")
    assert len(requests) == 4
    on_workers = [r for r in requests if "queue.worker" in [c.name for c in _children(spans, r)]]
    assert on_workers, "no request went through the worker pool"
    for request in requests:
        names = [c.name for c in _children(spans, request)]
        assert "model.run" in names and "encode" in names, names
        assert request.attributes["serving.model.signature_name"] == "regress_x_to_y"


def test_a_batched_request_shows_the_batch_it_joined(server, exporter, client_tracer):
    with GrpcClient(f"127.0.0.1:{server.grpc_port}") as client:
        client.metadata("batched")
        with client_tracer.start_as_current_span("client call") as client_span:
            context = otel_context.get_current()

            def call(x: float):
                token = otel_context.attach(context)
                try:
                    return client.predict("batched", {"x": np.array([x, x], np.float32)})["y"]
                finally:
                    otel_context.detach(token)

            with ThreadPoolExecutor(3) as pool:
                answers = list(pool.map(call, [1.0, 2.0, 3.0]))
    np.testing.assert_allclose(np.stack(answers), [[2.5, 2.5], [3.0, 3.0], [3.5, 3.5]])
    spans = exporter.get_finished_spans()
    requests = _server_spans(spans, client_span, "tensorflow.serving.PredictionService/Predict")
    assert len(requests) == 3
    sizes = []
    for request in requests:
        (batch,) = [c for c in _children(spans, request) if c.name == "batch"]
        assert batch.attributes["serving.batch.task_rows"] == 2
        inside = {c.name: c for c in _children(spans, batch)}
        assert set(inside) == {"queue.batch", "model.run"}
        run = inside["model.run"]
        assert run.attributes["serving.batch.rows"] == 2 * run.attributes["serving.batch.requests"]
        assert inside["queue.batch"].end_time <= run.start_time + 1
        sizes.append(run.attributes["serving.batch.requests"])
    assert max(sizes) > 1, f"no two requests shared a batch: {sizes}"  # 200 ms batch timeout, 3 at once


def test_errors_are_recorded_with_their_status(server, exporter, client_tracer):
    with RestClient(f"http://127.0.0.1:{server.rest_port}", retries=0) as client:
        with client_tracer.start_as_current_span("client call") as client_span:
            with pytest.raises(ClientError):
                client._call("POST", "/v1/models/missing:predict", {"instances": [1.0]})
    (request,) = _server_spans(exporter.get_finished_spans(), client_span, "POST /v1/models/{model}:predict")
    assert request.attributes["serving.status"] == "NOT_FOUND"
    assert request.attributes["http.response.status_code"] == 404
    assert request.status.status_code == StatusCode.UNSET  # a client's error is not the server's (4xx)


def test_a_request_without_trace_context_starts_a_trace(server, exporter):
    import requests

    exporter.clear()
    reply = requests.post(
        f"http://127.0.0.1:{server.rest_port}/v1/models/half_plus_two:predict", json={"instances": [1.0]}, timeout=30
    )
    assert reply.status_code == 200
    (request,) = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert request.parent is None and request.context.trace_id != 0


def test_spans_below_a_request_are_never_roots(exporter):
    """Work outside a request (a batch thread, a warmup replay) makes no span at all."""
    exporter.clear()
    with tracing.span("model.run") as span:
        span.set_attribute("ignored", 1)
    tracing.record("queue.worker", 0, 1)
    assert exporter.get_finished_spans() == ()


def test_off_is_one_shared_no_op():
    provider = tracing._provider
    tracing.install(None)
    try:
        assert not tracing.on()
        assert tracing.span("decode") is tracing.NO_SPAN
        assert tracing.server_span("x", {}, {}) is None
    finally:
        tracing.install(provider)


@pytest.mark.parametrize(
    "environ, names",
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp_proto_grpc"]),  # the Python SDK's default protocol
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ["otlp_proto_http"]),
        (
            {"OTEL_TRACES_EXPORTER": "otlp,console", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
            ["otlp_proto_http", "console"],
        ),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, []),
    ],
)
def test_the_environment_turns_tracing_on(environ, names):
    assert tracing.exporter_names(environ) == names


def test_an_unknown_exporter_or_protocol_is_a_clear_error():
    from serving.errors import ServingError

    with pytest.raises(ServingError, match="no exporter named zipkin-ish"):
        tracing.configure({"OTEL_TRACES_EXPORTER": "zipkin-ish"})
    with pytest.raises(ServingError, match="http/json"):
        tracing.exporter_names({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
