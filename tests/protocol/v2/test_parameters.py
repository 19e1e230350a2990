"""Parameters: InferParameter <-> Python values, and the checks on JSON ones."""

import pytest

from protocol.generated.inference import open_inference_pb2 as pb
from protocol.v2 import parameters


@pytest.mark.parametrize("value", [True, False, 0, -5, 2**64 - 1, 1.5, "serving_default"])
def test_round_trip(value):
    request = pb.ModelInferRequest()
    parameters.fill(request.parameters["p"], value)
    received = pb.ModelInferRequest.FromString(request.SerializeToString())
    got = parameters.to_dict(received.parameters)["p"]
    assert got == value and type(got) is type(value)


def test_empty_parameters_are_left_out():
    request = pb.ModelInferRequest()
    request.parameters["empty"].SetInParent()
    assert parameters.to_dict(request.parameters) == {}


def test_read():
    given = {"binary_data": True, "binary_data_size": 12, "signature_name": "x"}
    assert parameters.read(given, "binary_data", bool, "output 'y'") is True
    assert parameters.read(given, "binary_data_size", int, "input 'x'") == 12
    assert parameters.read(given, "missing", int, "input 'x'") is None
    with pytest.raises(ValueError, match="'binary_data_size' must be an integer, got True"):
        parameters.read({"binary_data_size": True}, "binary_data_size", int, "input 'x'")
    with pytest.raises(ValueError, match="must be a boolean"):
        parameters.read({"binary_data": 1}, "binary_data", bool, "output 'y'")


def test_check_object():
    assert parameters.check_object(None, "request") == {}
    with pytest.raises(ValueError, match="must be an object"):
        parameters.check_object([1], "request")
    with pytest.raises(ValueError, match="string, number or boolean"):
        parameters.check_object({"a": [1]}, "request")
