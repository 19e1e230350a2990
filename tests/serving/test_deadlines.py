"""Deadlines stop work: requests whose client already got its error (or cancelled) never start a model run.

Runs are counted with `:tensorflow:serving:runtime_latency_count` (one observation per model run).
Each scenario ends with a request sent after the ones that timed out, through the same FIFO (one
worker thread, or one batch thread): once it is answered, the earlier ones have run or been dropped.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.testing.models import build_slow
from serving.testing.server_process import ServerProcess, wait_for

METRICS_PATH = "/monitoring/prometheus/metrics"
SLOW = 2.5  # seconds one run of the slow model spins


def _runs(server) -> int:
    text = requests.get(server.rest_url + METRICS_PATH, timeout=30).text
    found = re.findall(r':tensorflow:serving:runtime_latency_count\{[^}]*model_name="slow"[^}]*\} ([0-9.e+]+)', text)
    return int(sum(float(v) for v in found))


def _start(tmp_path, extra):
    build_slow(tmp_path / "slow")
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text(f'prometheus_config {{ enable: true path: "{METRICS_PATH}" }}\n')
    return ServerProcess(
        model_name="slow",
        model_base_path=tmp_path / "slow",
        args=[f"--monitoring_config_file={monitoring}", "--file_system_poll_wait_seconds=0", *extra],
    )


def _grpc_request(seconds: float) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "slow"
    request.inputs["seconds"].CopyFrom(tf.make_tensor_proto(np.array([seconds], np.float32)))
    return request


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory):
    """One REST worker, one gRPC worker, a 1 s REST timeout."""
    with _start(
        tmp_path_factory.mktemp("deadlines"),
        ["--rest_api_num_threads=1", "--grpc_max_threads=1", "--rest_api_timeout_in_ms=1000"],
    ) as server:
        yield server


def test_rest_requests_that_timed_out_while_queued_never_run(one_worker):
    url = f"{one_worker.rest_url}/v1/models/slow:predict"
    before = _runs(one_worker)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(requests.post, url, json={"instances": [SLOW]}, timeout=60)
        time.sleep(0.5)
        queued = [pool.submit(requests.post, url, json={"instances": [SLOW]}, timeout=60) for _ in range(3)]
        assert first.result().status_code == 504
        assert [f.result().status_code for f in queued] == [504, 504, 504]
    # the first run goes on (a TensorFlow op in flight cannot be stopped); wait for it, then send one more
    # request with a long enough timeout behind everything else
    wait_for(lambda: _runs(one_worker) >= before + 1, 60, "the first run to end", interval=0.2)
    last = requests.post(url, json={"instances": [0.0]}, timeout=60)
    assert last.json() == {"predictions": [0.0]}
    assert _runs(one_worker) == before + 2  # the first and the last; the three that timed out never ran


def _runs_behind_a_slow_call(server, expiring: int, cancelling: int) -> int:
    """A slow call takes the only worker; `expiring` calls with a 1 s deadline and `cancelling` calls the
    client cancels queue behind it; a last call goes after them all. Returns the model runs counted."""
    channel = grpc.insecure_channel(server.grpc_address)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    before = _runs(server)
    first = stub.Predict.future(_grpc_request(SLOW), timeout=60)
    time.sleep(0.5)
    expired = [stub.Predict.future(_grpc_request(SLOW), timeout=1.0) for _ in range(expiring)]
    cancelled = [stub.Predict.future(_grpc_request(SLOW), timeout=60) for _ in range(cancelling)]
    time.sleep(0.3)
    for call in cancelled:
        call.cancel()
    for call in expired:
        with pytest.raises(grpc.RpcError) as info:
            call.result()
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    first.result()
    stub.Predict(_grpc_request(0.0), timeout=60)
    channel.close()
    return _runs(server) - before


def test_grpc_calls_past_their_deadline_or_cancelled_never_run(one_worker):
    assert _runs_behind_a_slow_call(one_worker, expiring=2, cancelling=1) == 2  # the slow one and the last


def test_batched_requests_past_their_deadline_leave_the_queue_without_running(tmp_path):
    batching = tmp_path / "batching.config"
    batching.write_text(
        "max_batch_size { value: 1 }\nbatch_timeout_micros { value: 0 }\n"
        "max_enqueued_batches { value: 100 }\nnum_batch_threads { value: 1 }\n"
    )
    with _start(tmp_path, ["--enable_batching", f"--batching_parameters_file={batching}"]) as server:
        assert _runs_behind_a_slow_call(server, expiring=3, cancelling=0) == 2
