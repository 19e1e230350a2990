"""JSON tensor data: flat or nested, exactly the shape's element count, each datatype's value rules."""

import numpy as np
import pytest

from protocol.v2 import json_data


@pytest.mark.parametrize(
    "datatype, shape, data, expected",
    [
        ("FP32", [2, 2], [1, 2.5, 3, 4], np.array([[1, 2.5], [3, 4]], np.float32)),
        ("FP32", [2, 2], [[1, 2.5], [3, 4]], np.array([[1, 2.5], [3, 4]], np.float32)),
        ("FP64", [3], [0.1, -1e300, 7], np.array([0.1, -1e300, 7.0])),
        ("FP16", [1], [0.5], np.array([0.5], np.float16)),
        ("INT8", [2], [-128, 127], np.array([-128, 127], np.int8)),
        ("UINT64", [1], [2**64 - 1], np.array([2**64 - 1], np.uint64)),
        ("INT64", [1, 1, 1], [[[-(2**63)]]], np.array([[[-(2**63)]]], np.int64)),
        ("BOOL", [3], [True, False, True], np.array([True, False, True])),
        ("FP32", [0, 3], [], np.zeros((0, 3), np.float32)),
        ("INT32", [], [7], np.array(7, np.int32)),
    ],
)
def test_decode(datatype, shape, data, expected):
    array = json_data.decode(datatype, shape, data)
    assert array.dtype == expected.dtype and array.shape == expected.shape
    np.testing.assert_array_equal(array, expected)


def test_bytes_are_utf8_strings():
    array = json_data.decode("BYTES", [1, 2], [["é", ""]])
    assert array.dtype == object and array.tolist() == [["é".encode(), b""]]


@pytest.mark.parametrize(
    "datatype, shape, data, message",
    [
        ("FP32", [2, 2], [1, 2, 3], "holds 3 elements, shape \\[2, 2\\] takes 4"),
        ("FP32", [2, 2], [[1, 2], [3]], "different lengths"),
        ("FP32", [2, 2], [[1, 2], 3, 4], "mixes lists and values"),
        ("FP32", [1], [True], "must be numbers, got booleans"),
        ("FP32", [1], ["1"], "must be numbers, got strings"),
        ("FP32", [1], [None], "must be numbers, got null"),
        ("FP32", [1], [{"b64": "AA=="}], "must be numbers, got objects"),
        ("INT32", [1], [1.0], "must be integers, got floats"),
        ("INT32", [1], [True], "must be integers, got booleans"),
        ("UINT8", [1], [256], "must lie in \\[0, 255\\]"),
        ("UINT8", [1], [-1], "must lie in"),
        ("INT64", [1], [2**63], "must lie in"),
        ("BOOL", [1], [1], "true or false"),
        ("BYTES", [1], [1], "must be strings"),
        ("FP32", [1], 1.0, "'data' must be a list"),
        ("FP32", [1], {"a": 1}, "'data' must be a list"),
        ("FP32", [-1], [], "negative"),
        ("FP32", [1], [10**400], "too large"),
        ("FP33", [1], [1], "unknown datatype"),
    ],
)
def test_bad_data_is_a_clear_value_error(datatype, shape, data, message):
    with pytest.raises(ValueError, match=message):
        json_data.decode(datatype, shape, data, "input 'x'")


def test_encode():
    datatype, shape, data = json_data.encode(np.arange(6, dtype=np.int16).reshape(2, 3))
    assert (datatype, shape) == ("INT16", [2, 3])
    assert data.tolist() == [0, 1, 2, 3, 4, 5] and data.flags.c_contiguous
    assert json_data.encode(np.array([b"a", "b"], dtype=object))[2] == ["a", "b"]
    assert json_data.encode(np.array([0.5], np.float16))[2].dtype == np.float32
    with pytest.raises(ValueError, match="not UTF-8"):
        json_data.encode(np.array([b"\xff"], dtype=object), "output 'png'")


def test_is_utf8():
    assert json_data.is_utf8(np.array([b"abc", "é".encode()], dtype=object))
    assert not json_data.is_utf8(np.array([b"\x89PNG"], dtype=object))
