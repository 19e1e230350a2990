"""The v2 REST client's bodies, read by the spec's rules (the server-side tests run the whole client)."""

import json

import numpy as np
import pytest

from clients.errors import ServingError
from clients.v2_rest import decode_response, encode_request
from protocol.v2 import binary


def _split(body: bytes, length: int | None):
    head, data = binary.split(body, length)
    return json.loads(bytes(head)), bytes(data)


def test_binary_request_is_the_json_header_then_each_tensor():
    arrays = {"images": np.array([b"\xff\xd8jpeg", b""], dtype=object), "k": np.array([1, 2], np.int32)}
    body, length = encode_request(arrays, "detect_with_threshold", None, as_binary=True)
    header, data = _split(body, length)
    assert header == {
        "inputs": [
            {"name": "images", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": 14}},
            {"name": "k", "datatype": "INT32", "shape": [2], "parameters": {"binary_data_size": 8}},
        ],
        "parameters": {"signature_name": "detect_with_threshold", "binary_data_output": True},
    }
    assert data == b"\x06\x00\x00\x00\xff\xd8jpeg\x00\x00\x00\x00" + b"\x01\x00\x00\x00\x02\x00\x00\x00"


def test_json_request_keeps_what_json_cannot_carry_binary():
    arrays = {
        "x": np.array([[0.5, 1.0]], np.float32),
        "text": np.array([b"caf\xc3\xa9"], dtype=object),
        "png": np.array([b"\x89PNG"], dtype=object),
        "nan": np.array([np.nan], np.float32),
    }
    body, length = encode_request(arrays, "serving_default", ["y"], as_binary=False)
    header, data = _split(body, length)
    x, text, png, nan = header["inputs"]
    assert x == {"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 1.0]}
    assert text == {"name": "text", "datatype": "BYTES", "shape": [1], "data": ["café"]}
    assert png["parameters"] == {"binary_data_size": 8} and nan["parameters"] == {"binary_data_size": 4}
    assert header["outputs"] == [{"name": "y", "parameters": {"binary_data": False}}]
    assert "parameters" not in header  # the default signature is not named
    assert data == b"\x04\x00\x00\x00\x89PNG" + np.float32(np.nan).tobytes()


def test_plain_json_request_has_no_header_length():
    body, length = encode_request({"x": np.array([1.0])}, "serving_default", ["y"], as_binary=False)
    assert length is None and json.loads(body)["inputs"][0]["data"] == [1.0]


def test_the_spec_example_response():
    header = json.dumps(
        {"outputs": [{"name": "output0", "shape": [3, 2], "datatype": "FP32", "parameters": {"binary_data_size": 24}}]}
    ).encode()
    values = np.arange(6, dtype="<f4")
    outputs = decode_response(header + values.tobytes(), str(len(header)))
    np.testing.assert_array_equal(outputs["output0"], values.reshape(3, 2))
    outputs["output0"][0, 0] = 7  # writable, as other clients' outputs are


def test_json_and_binary_outputs_mixed():
    header = json.dumps(
        {
            "model_name": "m",
            "outputs": [
                {"name": "scores", "shape": [1, 2], "datatype": "FP32", "data": [0.25, float("nan")]},
                {"name": "png", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 7}},
                {"name": "names", "shape": [2], "datatype": "BYTES", "data": ["tabby", "é"]},
            ],
        }
    ).encode()  # json.dumps writes NaN as the literal servers use
    outputs = decode_response(header + b"\x03\x00\x00\x00PNG", str(len(header)))
    assert np.isnan(outputs["scores"][0, 1]) and outputs["scores"][0, 0] == 0.25
    assert outputs["png"].tolist() == [b"PNG"] and outputs["names"].tolist() == [b"tabby", "é".encode()]


@pytest.mark.parametrize(
    "body, length",
    [
        (
            b'{"outputs": [{"name": "y", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}',
            None,
        ),
        (b"{}", "99"),
        (b'{"outputs": [{"name": "y", "shape": [3], "datatype": "FP32", "data": [1]}]}', None),
    ],
)
def test_unreadable_answers_are_serving_errors(body, length):
    with pytest.raises(ServingError) as error:
        decode_response(body, length)
    assert error.value.code == "INTERNAL"
