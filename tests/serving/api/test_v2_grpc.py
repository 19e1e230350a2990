"""inference.GRPCInferenceService against a real server (on the gRPC port beside TF Serving's services):
health, metadata, typed and raw tensors, the same answers as TF Serving's gRPC API, and status codes for
every malformed request."""

from __future__ import annotations

import json
import re

import grpc
import numpy as np
import pytest

from clients.tfs_grpc import GrpcClient
from clients.v2_grpc import V2GrpcClient, read_outputs
from protocol.generated.inference import open_inference_pb2 as pb
from protocol.generated.inference.open_inference_pb2_grpc import GRPCInferenceServiceStub
from protocol.generated.tensorflow.core.example import example_pb2
from protocol.v2 import grpc_tensors, parameters


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.grpc_address) as channel:
        yield GRPCInferenceServiceStub(channel)


def _request(model: str, version: str = "", **tensors) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model, model_version=version)
    for name, array in tensors.items():
        grpc_tensors.write(request.inputs.add(name=name), array, request.raw_input_contents)
    return request


def test_health_and_metadata(stub):
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="half_plus_two", version="1")).ready
    assert not stub.ModelReady(pb.ModelReadyRequest(name="half_plus_two", version="7")).ready
    server = stub.ServerMetadata(pb.ServerMetadataRequest())
    assert server.name == "keras-to-serving" and "binary_tensor_data" in server.extensions
    metadata = stub.ModelMetadata(pb.ModelMetadataRequest(name="multi_io"))
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("a", "FP32", [-1, 2]),
        ("b", "INT64", [-1]),
    ]
    assert [t.name for t in metadata.outputs] == ["doubled", "flag", "total"]
    assert metadata.platform == "tensorflow_savedmodel" and list(metadata.versions) == ["1"]
    assert json.loads(metadata.properties["signature:serving_default"])["inputs"][0]["name"] == "a"


def test_raw_inputs_get_raw_outputs(stub):
    a = np.array([[1.0, 2.0]], np.float32)
    response = stub.ModelInfer(_request("multi_io", a=a, b=np.array([5], np.int64)))
    assert response.model_name == "multi_io" and response.model_version == "1"
    assert len(response.raw_output_contents) == 3 and not any(grpc_tensors.has_contents(o) for o in response.outputs)
    outputs = read_outputs(response)
    assert outputs["total"].tolist() == [8.0] and outputs["flag"].tolist() == [True]


def test_typed_inputs_get_typed_outputs_and_the_id_comes_back(stub):
    request = pb.ModelInferRequest(model_name="half_plus_two", model_version="1", id="req-7")
    grpc_tensors.write(request.inputs.add(name="x"), np.array([2.0, 4.0], np.float32))
    request.outputs.add(name="y")
    response = stub.ModelInfer(request)
    assert response.id == "req-7" and not response.raw_output_contents
    assert list(response.outputs[0].contents.fp32_contents) == [3.0, 4.0]


def test_signatures_are_picked_by_parameter(stub):
    example = example_pb2.Example()
    example.features.feature["x"].float_list.value.append(4.0)
    request = _request("half_plus_two", "1", inputs=np.array([example.SerializeToString()], dtype=object))
    parameters.fill(request.parameters[parameters.SIGNATURE], "regress_x_to_y")
    assert read_outputs(stub.ModelInfer(request))["outputs"].reshape(-1).tolist() == [4.0]


@pytest.mark.parametrize(
    "model, inputs",
    [
        ("half_plus_two", {"x": np.linspace(-1, 1, 5, dtype=np.float32)}),
        ("multi_io", {"a": np.ones((3, 2), np.float32), "b": np.arange(3)}),
        ("strings", {"text": np.array([b"\xff\xd8 jpeg", b"ok"], dtype=object)}),
        ("float16", {"h": np.array([0.5, 2.0], np.float16)}),
    ],
)
def test_the_same_numbers_as_tf_servings_grpc_api(server, model, inputs):
    with GrpcClient(server.grpc_address) as tfs, V2GrpcClient(server.grpc_address) as v2:
        expected, got = tfs.predict(model, inputs), v2.predict(model, inputs)
    assert expected.keys() == got.keys()
    for name in expected:
        assert got[name].dtype == expected[name].dtype and got[name].tolist() == expected[name].tolist()


def _code(stub, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelInfer(request)
    return error.value.code(), error.value.details()


def _typed(datatype: str, shape: list[int], **contents) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="half_plus_two")
    request.inputs.add(name="x", datatype=datatype, shape=shape, contents=pb.InferTensorContents(**contents))
    return request


def _raw(datatype: str, shape: list[int], data: bytes, inputs: int = 1) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="half_plus_two")
    for _ in range(inputs):
        request.inputs.add(name="x", datatype=datatype, shape=shape)
    request.raw_input_contents.append(data)
    return request


@pytest.mark.parametrize(
    "request_, code, message",
    [
        (_typed("FP32", [3], fp32_contents=[1, 2]), "INVALID_ARGUMENT", "holds 2 values, shape \\[3\\] takes 3"),
        (_typed("FP32", [1], int_contents=[1]), "INVALID_ARGUMENT", "belong in contents.fp32_contents"),
        (_typed("FP64", [1], fp64_contents=[1]), "INVALID_ARGUMENT", "is FP64, signature 'serving_default' takes FP32"),
        (_typed("FP32", [1, 1], fp32_contents=[1]), "INVALID_ARGUMENT", "incompatible with the signature shape"),
        (_typed("FLOAT", [1], fp32_contents=[1]), "INVALID_ARGUMENT", "unknown datatype 'FLOAT'"),
        (_typed("FP32", [-1], fp32_contents=[]), "INVALID_ARGUMENT", "negative dimension"),
        (_typed("FP16", [1]), "INVALID_ARGUMENT", "no typed contents field"),
        (_raw("FP32", [2], b"\x00" * 4), "INVALID_ARGUMENT", "4 bytes of data, but shape \\[2\\] of FP32 takes 8"),
        (_raw("FP32", [1], b"\x00" * 4, inputs=2), "INVALID_ARGUMENT", "1 entries for 2 inputs"),
        (_raw("BYTES", [1], b"\x09\x00\x00\x00ab"), "INVALID_ARGUMENT", "says it holds 9 bytes"),
        (pb.ModelInferRequest(model_name="nope"), "NOT_FOUND", "nope"),
        (pb.ModelInferRequest(model_name=""), "INVALID_ARGUMENT", "model name is required"),
        (pb.ModelInferRequest(model_name="half_plus_two", model_version="99"), "NOT_FOUND", "Specific"),
        (pb.ModelInferRequest(model_name="half_plus_two", model_version="canary"), "INVALID_ARGUMENT", "label"),
    ],
)
def test_malformed_requests_have_their_status(stub, request_, code, message):
    got, details = _code(stub, request_)
    assert got.name == code, details
    assert re.search(message, details), details


def test_requested_outputs_and_unknown_ones(stub):
    request = _request("multi_io", a=np.ones((1, 2), np.float32), b=np.array([1], np.int64))
    request.outputs.add(name="flag")
    assert [o.name for o in stub.ModelInfer(request).outputs] == ["flag"]
    request.outputs.add(name="nope")
    code, details = _code(stub, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "nope" in details


def test_the_timeout_parameter_and_the_call_deadline(stub):
    request = _request("slow", seconds=np.array([1.0], np.float32))
    parameters.fill(request.parameters[parameters.TIMEOUT_US], 200_000)
    assert _code(stub, request)[0] == grpc.StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelInfer(_request("slow", seconds=np.array([1.0], np.float32)), timeout=0.2)
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
