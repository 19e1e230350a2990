"""Dynamic batching under concurrency, Prometheus metrics and CORS, on one server with all three enabled."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.testing.server_process import ServerProcess

METRICS_PATH = "/monitoring/prometheus/metrics"


@pytest.fixture(scope="module")
def server(shared_config, tmp_path_factory):
    root = tmp_path_factory.mktemp("batching")
    batching = root / "batching.config"
    batching.write_text(
        "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 100000 }\n"
        "max_enqueued_batches { value: 100 }\nnum_batch_threads { value: 1 }\n"
        "allowed_batch_sizes: 2\nallowed_batch_sizes: 4\nallowed_batch_sizes: 8\n"
    )
    monitoring = root / "monitoring.config"
    monitoring.write_text(f'prometheus_config {{ enable: true path: "{METRICS_PATH}" }}\n')
    with ServerProcess(
        model_config_file=shared_config,
        args=[
            "--enable_batching",
            f"--batching_parameters_file={batching}",
            f"--monitoring_config_file={monitoring}",
            "--rest_api_enable_cors_support=true",
            "--file_system_poll_wait_seconds=0",
        ],
    ) as process:
        yield process


def _metric(text, name, labels=""):
    pattern = re.escape(name) + (r"\{" + labels + r"[^}]*\}" if labels else r"(?:\{[^}]*\})?") + r" ([0-9.e+]+)"
    return sum(float(v) for v in re.findall(pattern, text))


def test_concurrent_clients_each_get_their_own_answer_in_merged_batches(server):
    before = requests.get(server.rest_url + METRICS_PATH, timeout=30).text
    channel = grpc.insecure_channel(server.grpc_address)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    rng = np.random.default_rng(7)
    inputs = [rng.normal(size=int(rng.integers(1, 4))).astype(np.float32) for _ in range(64)]

    def call(i):
        x = inputs[i]
        if i % 2:
            reply = requests.post(
                f"{server.rest_url}/v1/models/half_plus_two/versions/1:predict",
                json={"instances": x.tolist()},
                timeout=60,
            )
            assert reply.status_code == 200, reply.text
            return np.array(reply.json()["predictions"], np.float32)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "half_plus_two"
        request.model_spec.version.value = 1
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(x))
        return tf.make_ndarray(stub.Predict(request, timeout=60).outputs["y"])

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(call, range(len(inputs))))
    channel.close()
    for x, y in zip(inputs, results):
        np.testing.assert_allclose(y, np.float32(0.5) * x + np.float32(2.0), rtol=1e-6)
    after = requests.get(server.rest_url + METRICS_PATH, timeout=30).text
    name = ":tensorflow:serving:batching_session:"
    tasks = _metric(after, name + "input_batch_size_count") - _metric(before, name + "input_batch_size_count")
    batches = _metric(after, name + "processed_batch_size_count") - _metric(before, name + "processed_batch_size_count")
    assert tasks == len(inputs)
    assert 0 < batches < tasks  # requests were merged
    executed = set(re.findall(r'padding_size_count\{execution_batch_size="(\d+)"\}', after))
    assert executed and executed <= {"2", "4", "8"}  # every batch was padded to an allowed size


def test_a_bad_request_in_a_batch_fails_only_itself(server):
    def classify(examples):
        return requests.post(
            f"{server.rest_url}/v1/models/half_plus_two/versions/1:classify",
            json={"signature_name": "classify_x_to_y", "examples": examples},
            timeout=60,
        )

    bodies = [[{"x": float(i)}] for i in range(7)] + [[{"x": [1.0, 2.0]}]]  # the last has 2 values for a [1] feature
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(classify, bodies))
    for i, reply in enumerate(replies[:-1]):
        assert reply.status_code == 200 and reply.json() == {"results": [[["", 0.5 * i + 2.0]]]}
    assert replies[-1].status_code == 400


def test_task_larger_than_max_batch_size_is_rejected(server):
    reply = requests.post(
        f"{server.rest_url}/v1/models/half_plus_two:predict", json={"instances": [1.0] * 9}, timeout=60
    )
    assert reply.status_code == 400
    assert reply.json() == {"error": "Task size 9 is larger than maximum input batch size 8"}


def test_prometheus_metrics_use_official_names(server):
    requests.post(f"{server.rest_url}/v1/models/strings:predict", json={"instances": ["a"]}, timeout=60)
    requests.post(f"{server.rest_url}/v1/models/strings:predict", json={"instances": [1]}, timeout=60)
    reply = requests.get(server.rest_url + METRICS_PATH, timeout=30)
    assert reply.status_code == 200
    text = reply.text
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert "# TYPE :tensorflow:serving:request_latency histogram" in text
    # only this test sends to `strings` on this server: one good request, one with a number for a string
    assert _metric(text, ":tensorflow:serving:request_count", 'model_name="strings",status="OK"') == 1
    assert _metric(text, ":tensorflow:serving:request_count", 'model_name="strings",status="INVALID_ARGUMENT"') == 1
    assert (
        _metric(
            text, ":tensorflow:serving:request_latency_count", 'API="predict",entrypoint="REST",model_name="strings"'
        )
        == 1
    )  # latency of answered requests
    assert (
        _metric(text, ":tensorflow:serving:runtime_latency_count", 'API="Predict",model_name="strings",runtime="TF1"')
        == 1
    )  # the bad one never ran


def test_cors_headers_and_preflight(server):
    reply = requests.post(f"{server.rest_url}/v1/models/half_plus_two:predict", json={"instances": [1.0]}, timeout=60)
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert reply.headers["Access-Control-Allow-Methods"] == "POST, GET"
    assert reply.headers["Access-Control-Allow-Headers"] == "Content-Type"
    preflight = requests.options(
        f"{server.rest_url}/v1/models/half_plus_two:predict", headers={"Origin": "http://example.test"}, timeout=30
    )
    assert preflight.status_code == 200 and preflight.headers["Access-Control-Allow-Origin"] == "*"
    missing = requests.options(f"{server.rest_url}/v1/models/half_plus_two:predict", timeout=30)
    assert missing.status_code == 400
    assert missing.json() == {"error": "Origin header is missing in CORS preflight"}


def test_unknown_model_names_create_no_label_series(server):
    """Model names come from requests: 1,000 random ones over REST and gRPC must not grow the page."""
    import uuid

    def series(text):
        return sorted(line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#"))

    def page():
        return requests.get(server.rest_url + METRICS_PATH, timeout=30).text

    requests.post(
        f"{server.rest_url}/v1/models/never-{uuid.uuid4().hex}:predict", json={"instances": [1.0]}, timeout=30
    )  # the first unknown name may add the shared "" series for each status once
    channel = grpc.insecure_channel(server.grpc_address)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    first = predict_pb2.PredictRequest()
    first.model_spec.name = f"never-{uuid.uuid4().hex}"
    with pytest.raises(grpc.RpcError):
        stub.Predict(first, timeout=30)
    before = series(page())
    with requests.Session() as session:
        for _ in range(500):
            name = uuid.uuid4().hex
            session.post(f"{server.rest_url}/v1/models/{name}:predict", json={"instances": [1.0]}, timeout=30)
            request = predict_pb2.PredictRequest()
            request.model_spec.name = name
            with pytest.raises(grpc.RpcError):
                stub.Predict(request, timeout=30)
    channel.close()
    after = series(page())
    assert len(after) == len(before), set(after) - set(before)
    assert not any(name in page() for name in ("never-",))
