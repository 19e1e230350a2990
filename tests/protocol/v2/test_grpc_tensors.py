"""numpy <-> InferInputTensor / InferOutputTensor, typed contents and raw contents."""

import numpy as np
import pytest

from protocol.generated.inference import open_inference_pb2 as pb
from protocol.v2 import grpc_tensors

ARRAYS = [
    np.array([[1.5, -2.0], [np.inf, 0.0]], np.float32),
    np.array([1e300, -0.1]),
    np.array([-128, 127], np.int8),
    np.array([65535], np.uint16),
    np.array([2**64 - 1], np.uint64),
    np.array([-(2**63)], np.int64),
    np.array([True, False]),
    np.array([b"\xff\xd8", b""], dtype=object),
    np.zeros((0, 4), np.float32),
]


@pytest.mark.parametrize("use_raw", [True, False], ids=["raw", "typed"])
@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_round_trip_through_the_wire(array, use_raw):
    request = pb.ModelInferRequest()
    tensor = request.inputs.add(name="x")
    grpc_tensors.write(tensor, array, request.raw_input_contents if use_raw else None)
    received = pb.ModelInferRequest.FromString(request.SerializeToString())
    data = received.raw_input_contents[0] if use_raw else None
    back = grpc_tensors.read(received.inputs[0], data, "input 'x'")
    assert back.shape == array.shape and back.dtype == array.dtype
    assert back.tolist() == array.tolist()


def test_half_floats_travel_raw_only():
    response = pb.ModelInferResponse()
    with pytest.raises(ValueError, match="must be sent raw"):
        grpc_tensors.write(response.outputs.add(name="y"), np.array([1.0], np.float16))
    tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP16", shape=[1])
    with pytest.raises(ValueError, match="no typed contents field"):
        grpc_tensors.read(tensor, None, "input 'x'")


def _typed(datatype, shape, **contents):
    return pb.ModelInferRequest.InferInputTensor(
        name="x", datatype=datatype, shape=shape, contents=pb.InferTensorContents(**contents)
    )


@pytest.mark.parametrize(
    "tensor, data, message",
    [
        (_typed("FP32", [3], fp32_contents=[1, 2]), None, "holds 2 values, shape \\[3\\] takes 3"),
        (_typed("FP32", [1], int_contents=[1]), None, "belong in contents.fp32_contents, not int_contents"),
        (_typed("INT8", [1], int_contents=[300]), None, "must lie in \\[-128, 127\\]"),
        (_typed("UINT8", [1], uint_contents=[256]), None, "must lie in"),
        (_typed("FP32", [1], fp32_contents=[1]), b"\x00" * 4, "both 'contents' and the raw contents"),
        (_typed("FP32", [2]), b"\x00" * 4, "4 bytes of data"),
        (_typed("FLOAT", [1]), b"\x00" * 4, "unknown datatype"),
        (_typed("FP32", [-2]), b"", "negative"),
    ],
)
def test_bad_tensors(tensor, data, message):
    with pytest.raises(ValueError, match=message):
        grpc_tensors.read(tensor, data, "input 'x'")
