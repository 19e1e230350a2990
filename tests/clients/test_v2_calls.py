"""The v2 clients (V2RestClient with binary and JSON tensors, V2GrpcClient) against a real `python -m serving`:
the same `predict` as the TF Serving clients, health, status, metadata, labels, signatures and errors."""

from __future__ import annotations

import numpy as np
import pytest

from clients.errors import ServingError
from clients.tfs_rest import RestClient
from clients.v2_grpc import V2GrpcClient
from clients.v2_rest import V2RestClient
from protocol.generated.tensorflow.core.example import example_pb2

KINDS = ["rest-binary", "rest-json", "grpc"]


@pytest.fixture(params=KINDS)
def v2(request, tiny_server):
    if request.param == "grpc":
        client = V2GrpcClient(tiny_server.grpc_address)
    else:
        client = V2RestClient(tiny_server.rest_url, binary=request.param == "rest-binary")
    with client:
        yield client


def test_health_status_and_metadata(v2):
    assert v2.server_live() and v2.server_ready()
    assert "binary_tensor_data" in v2.server_metadata()["extensions"]
    assert v2.ready("hpt") and v2.ready("hpt", label="stable") and not v2.ready("nope")
    assert [(s.version, s.state) for s in v2.status("hpt")] == [(1, "AVAILABLE"), (2, "AVAILABLE")]
    assert [(s.version, s.state) for s in v2.status("hpt", label="stable")] == [(1, "AVAILABLE")]
    signature = v2.metadata("multi_io").signature("serving_default")
    assert {n: (t.dtype, t.shape) for n, t in signature.inputs.items()} == {
        "a": ("DT_FLOAT", (-1, 2)),
        "b": ("DT_INT64", (-1,)),
    }
    assert set(v2.metadata("hpt").signatures) == {"serving_default", "classify_x_to_y", "regress_x_to_y"}


def test_predict_is_the_same_call_with_the_same_answers(v2, tiny_server):
    with RestClient(tiny_server.rest_url) as tfs:
        for model, inputs, address in [
            ("hpt", [1.0, 2.0], {}),
            ("hpt", [1.0, 2.0], {"version": 1}),
            ("hpt", [1.0, 2.0], {"label": "stable"}),
            ("multi_io", {"a": [[1.0, 2.0]], "b": [3]}, {}),
            ("strings", np.array([bytes(range(256)), "caf\u00e9"], dtype=object), {}),
        ]:
            expected, got = tfs.predict(model, inputs, **address), v2.predict(model, inputs, **address)
            assert {k: v.tolist() for k, v in got.items()} == {k: v.tolist() for k, v in expected.items()}
    assert list(v2.predict("multi_io", {"a": [[1.0, 2.0]], "b": [3]}, output_filter=["flag"])) == ["flag"]


def test_another_signature(v2):
    example = example_pb2.Example()
    example.features.feature["x"].float_list.value.append(6.0)
    out = v2.predict(
        "hpt", {"inputs": np.array([example.SerializeToString()], dtype=object)}, signature="regress_x_to_y", version=1
    )
    assert out["outputs"].reshape(-1).tolist() == [5.0]


@pytest.mark.parametrize(
    "call, code",
    [
        (lambda c: c.predict("nope", [1.0]), "NOT_FOUND"),
        (lambda c: c.predict("hpt", [1.0], version=99), "NOT_FOUND"),
        (lambda c: c.predict("hpt", [1.0], label="canary"), "INVALID_ARGUMENT"),
        (lambda c: c.predict("hpt", [1.0], signature="nope"), "FAILED_PRECONDITION"),
        (lambda c: c.predict("multi_io", {"a": [[1.0, 2.0]]}), "INVALID_ARGUMENT"),
        (lambda c: c.predict("multi_io", {"a": [[1.0, 2.0]], "b": [1]}, output_filter=["nope"]), "INVALID_ARGUMENT"),
    ],
)
def test_errors_are_serving_errors(v2, call, code):
    with pytest.raises(ServingError) as error:
        call(v2)
    assert error.value.code == code and error.value.message
