"""The core contract end to end, over real HTTP and gRPC against one shared server process: predict, status,
metadata, version policies, NOT_FOUND and warm-up on both front ends (each front end's details:
test_tfs_rest.py, test_tfs_grpc.py)."""

from __future__ import annotations

import grpc
import numpy as np
import requests
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)


def _post(server, path, body):
    return requests.post(f"{server.rest_url}{path}", json=body, timeout=30)


def test_rest_predict_row_and_columnar_latest_version(server):
    # version 2 (offset 3) is the latest; y = 0.5 x + 3
    row = _post(server, "/v1/models/half_plus_two:predict", {"instances": [2.0, 3.0, 4.0]})
    assert row.status_code == 200 and row.headers["Content-Type"] == "application/json"
    assert row.json() == {"predictions": [4.0, 4.5, 5.0]}
    columnar = _post(server, "/v1/models/half_plus_two:predict", {"inputs": [2.0, 3.0, 4.0]})
    assert columnar.json() == {"outputs": [4.0, 4.5, 5.0]}


def test_rest_predict_specific_version(server):
    reply = _post(server, "/v1/models/half_plus_two/versions/1:predict", {"instances": [2.0]})
    assert reply.json() == {"predictions": [3.0]}


def test_rest_status_lists_versions_newest_first(server):
    reply = requests.get(f"{server.rest_url}/v1/models/half_plus_two", timeout=30)
    assert reply.json() == {
        "model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
        ]
    }


def test_version_policies(server):
    def versions(model):
        reply = requests.get(f"{server.rest_url}/v1/models/{model}", timeout=30).json()
        return [(s["version"], s["state"]) for s in reply["model_version_status"]]

    assert versions("hp2_latest") == [("2", "AVAILABLE")]  # latest { num_versions: 1 } is the default
    assert versions("hp2_specific") == [("1", "AVAILABLE")]
    assert _post(server, "/v1/models/hp2_specific:predict", {"instances": [2.0]}).json() == {"predictions": [3.0]}


def test_rest_metadata(server):
    reply = requests.get(f"{server.rest_url}/v1/models/half_plus_two/versions/1/metadata", timeout=30).json()
    assert reply["model_spec"] == {"name": "half_plus_two", "signature_name": "", "version": "1"}
    signatures = reply["metadata"]["signature_def"]["signature_def"]
    # every SignatureDef of the meta graph, as TF Serving reports them (the init op included)
    assert set(signatures) == {"serving_default", "classify_x_to_y", "regress_x_to_y", "__saved_model_init_op"}
    assert signatures["classify_x_to_y"]["method_name"] == "tensorflow/serving/classify"
    assert signatures["serving_default"]["inputs"]["x"]["dtype"] == "DT_FLOAT"


def test_grpc_predict_status_metadata(server):
    channel = grpc.insecure_channel(server.grpc_address)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.version.value = 1
    x = np.array([1.0, -4.0, 10.0], np.float32)
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(x))
    response = stub.Predict(request, timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), 0.5 * x + 2.0)
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"

    status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
        get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "strings"}), timeout=30
    )
    assert [(s.version, s.state) for s in status.model_version_status] == [(1, 30)]

    metadata = stub.GetModelMetadata(
        get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec={"name": "multi_io"}, metadata_field=["signature_def"]
        ),
        timeout=30,
    )
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signature_map)
    assert set(signature_map.signature_def["serving_default"].inputs) == {"a", "b"}
    channel.close()


def test_unknown_model_is_not_found_on_both_protocols(server):
    reply = _post(server, "/v1/models/nope:predict", {"instances": [1.0]})
    assert reply.status_code == 404
    assert reply.json() == {"error": "Servable not found for request: Latest(nope)"}
    channel = grpc.insecure_channel(server.grpc_address)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "nope"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0], np.float32)))
    try:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
        raise AssertionError("expected NOT_FOUND")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND
        assert e.details() == "Servable not found for request: Latest(nope)"
    channel.close()


def test_warmup_records_are_replayed_before_serving(server, model_root):
    # half_plus_two v1 carries one PredictionLog; v2 carries none
    log = server.log()
    assert (
        f"Finished reading warmup data for model at {model_root / 'half_plus_two' / '1' / 'assets.extra'}"
        f"/tf_serving_warmup_requests. Number of warmup records read: 1."
    ) in log
    assert f"No warmup data file found at {model_root / 'half_plus_two' / '2' / 'assets.extra'}" in log
