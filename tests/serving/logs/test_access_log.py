"""--access_log: one JSON line per request on every API, off by default; the bytes are what went over the wire."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest
import requests

from protocol import tensors
from protocol.generated.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from serving.logs.access import trace_id_of
from serving.testing.models import build_half_plus_two
from serving.testing.server_process import ServerProcess, wait_for

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_half_plus_two(tmp_path_factory.mktemp("access") / "half_plus_two")


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_one_line_per_request_on_rest_and_grpc(base, tmp_path):
    path = tmp_path / "access.log"
    with ServerProcess(model_name="half_plus_two", model_base_path=base, args=[f"--access_log={path}"]) as server:
        url = f"{server.rest_url}/v1/models/half_plus_two:predict"
        body = b'{"instances": [1.0, 2.0]}'
        ok = requests.post(url, data=body, headers={"traceparent": TRACEPARENT}, timeout=30)
        missing = requests.post(f"{server.rest_url}/v1/models/nope:predict", data=body, timeout=30)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.grpc_address))
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "half_plus_two"
        request.inputs["x"].CopyFrom(tensors.to_proto(np.array([3.0], np.float32)))
        answer = stub.Predict(request, timeout=30, metadata=(("traceparent", TRACEPARENT),))
        with pytest.raises(grpc.RpcError):
            stub.Predict(predict_pb2.PredictRequest(model_spec={"name": "nope"}), timeout=30)
        lines = wait_for(lambda: len(found := _lines(path)) >= 4 and found, 30, "four access lines")
    rest_ok, rest_missing, grpc_ok, grpc_missing = lines
    assert rest_ok["api"] == "tfs_rest" and rest_ok["method"] == "predict"
    assert (rest_ok["model"], rest_ok["version"], rest_ok["signature"]) == ("half_plus_two", 1, "serving_default")
    assert (rest_ok["status"], rest_ok["http_status"]) == ("OK", 200)
    assert (rest_ok["bytes_in"], rest_ok["bytes_out"]) == (len(body), len(ok.content))
    assert rest_ok["trace_id"] == "0af7651916cd43dd8448eb211c80319c"  # the client's, tracing being off here
    assert rest_ok["latency_ms"] > 0 and rest_ok["time"].endswith("Z") and rest_ok["peer"].startswith("ipv4:127.0.0.1:")
    assert (rest_missing["status"], rest_missing["http_status"], rest_missing["version"]) == ("NOT_FOUND", 404, None)
    assert rest_missing["bytes_out"] == len(missing.content) and rest_missing["trace_id"] is None
    assert grpc_ok["api"] == "tfs_grpc" and grpc_ok["method"] == "Predict" and grpc_ok["http_status"] is None
    assert (grpc_ok["status"], grpc_ok["version"]) == ("OK", 1)
    assert grpc_ok["bytes_in"] == request.ByteSize() and grpc_ok["bytes_out"] == answer.ByteSize()
    assert grpc_ok["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert grpc_missing["status"] == "NOT_FOUND" and grpc_missing["bytes_out"] == 0


def test_to_stderr_and_off_by_default(base):
    with ServerProcess(model_name="half_plus_two", model_base_path=base, args=["--access_log=stderr"]) as server:
        assert server.rest_predict("half_plus_two", [1.0]).status_code == 200
        wait_for(lambda: '"api":"tfs_rest"' in server.log(), 30, "the access line on stderr")
    with ServerProcess(model_name="half_plus_two", model_base_path=base) as server:
        assert server.rest_predict("half_plus_two", [1.0]).status_code == 200
    assert '"api":' not in server.log()


@pytest.mark.parametrize(
    "header, expected",
    [
        (TRACEPARENT, "0af7651916cd43dd8448eb211c80319c"),
        ("00-00000000000000000000000000000000-b7ad6b7169203331-01", ""),
        ("garbage", ""),
        ("", ""),
    ],
)
def test_trace_ids_from_traceparent(header, expected):
    assert trace_id_of(header) == expected
