"""serving.tensor_json.request: JSON bodies to input arrays (FillPredictRequestFromJson), the cases of
tensorflow/serving's util/json_tensor_test.cc and the request cases of http_rest_api_handler_test.cc, each run
through the typed path and the reference codec."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from protocol.generated.tensorflow.core.framework import types_pb2 as T
from serving import tensor_json
from serving.errors import Code
from tests.serving.tensor_json.codec import HELLO, WORLD, error, request, same

# ------------------------------------------------------------------ FillPredictRequestFromJson


def test_single_unnamed_tensor():
    arrays, fmt = request('{"instances": [[1,2],[3,4],[5,6]]}', {"default": T.DT_INT32})
    assert fmt == "row" and list(arrays) == ["default"]
    same(arrays["default"], [[1, 2], [3, 4], [5, 6]], np.int32)


def test_mixed_input_for_float_tensor():
    arrays, _ = request('{"instances": [1, 2.0, 3, 4, 5.003, 0.007, 0.0]}', {"default": T.DT_FLOAT})
    same(arrays["default"], [1, 2, 3, 4, 5.003, 0.007, 0], np.float32)


def test_mixed_input_for_double_tensor():
    arrays, _ = request('{"instances": [1.0, 2, 3, 4, 0.662, 0, 0.0]}', {"default": T.DT_DOUBLE})
    same(arrays["default"], [1, 2, 3, 4, 0.662, 0, 0], np.float64)


def test_single_unnamed_tensor_with_signature():
    doc = tensor_json.parse_document(b'{"signature_name": "predict_images", "instances": [[1,2]]}')
    assert tensor_json.signature_name(doc) == "predict_images"
    arrays, fmt = tensor_json.predict_request_arrays(doc, {"default": T.DT_INT32})
    same(arrays["default"], [[1, 2]], np.int32)


def test_single_unnamed_tensor_base64_scalars():
    arrays, fmt = request(json.dumps({"instances": [HELLO, WORLD]}), {"default": T.DT_STRING})
    assert fmt == "row"
    same(arrays["default"], [b"hello", b"world"], object)


def test_single_unnamed_tensor_base64_lists():
    arrays, _ = request(json.dumps({"instances": [[HELLO], [WORLD]]}), {"default": T.DT_STRING})
    same(arrays["default"], [[b"hello"], [b"world"]], object)


def test_single_named_tensor_base64():
    arrays, _ = request(json.dumps({"instances": [{"default": [[HELLO], [WORLD]]}]}), {"default": T.DT_STRING})
    same(arrays["default"], [[[b"hello"], [b"world"]]], object)


def test_multiple_named_tensors():
    body = """{"instances": [
        {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"], "float_tensor": [1.0, NaN],
         "dbl_tensor": [NaN]},
        {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"], "float_tensor": [2.0, Infinity],
         "dbl_tensor": [2.0]}]}"""
    dtypes = {
        "int_tensor": T.DT_INT32,
        "str_tensor": T.DT_STRING,
        "float_tensor": T.DT_FLOAT,
        "dbl_tensor": T.DT_DOUBLE,
    }
    arrays, fmt = request(body, dtypes)
    assert fmt == "row" and set(arrays) == set(dtypes)
    same(arrays["int_tensor"], [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], np.int32)
    same(arrays["str_tensor"], [[b"foo", b"bar"], [b"baz", b"bat"]], object)
    same(arrays["float_tensor"], [[1.0, np.nan], [2.0, np.inf]], np.float32)
    same(arrays["dbl_tensor"], [[np.nan], [2.0]], np.float64)


def test_single_tensor_columnar_format_named_and_unnamed():
    for body in ('{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]]}}', '{"inputs": [[[1,2],[3,4],[5,6]]]}'):
        arrays, fmt = request(body, {"int_tensor": T.DT_INT32})
        assert fmt == "columnar"
        same(arrays["int_tensor"], [[[1, 2], [3, 4], [5, 6]]], np.int32)


def test_multiple_named_tensors_columnar_format():
    body = json.dumps(
        {"inputs": {"int_tensor": [[[1, 2], [3, 4], [5, 6]]], "str_tensor": ["foo", "bar"], "bin_tensor": HELLO}}
    )
    arrays, fmt = request(body, {"int_tensor": T.DT_INT32, "str_tensor": T.DT_STRING, "bin_tensor": T.DT_STRING})
    assert fmt == "columnar"
    same(arrays["int_tensor"], [[[1, 2], [3, 4], [5, 6]]], np.int32)
    same(arrays["str_tensor"], [b"foo", b"bar"], object)
    same(arrays["bin_tensor"], b"hello", object)  # a scalar: tensor_shape {}


def test_inputs_of_any_shape_are_taken():
    # The graph judges shapes (as the official server): the codec refuses only what JSON itself gets wrong.
    for body in ('{"instances": [2.0, 3.0, 4.0]}', '{"inputs": [[[[2.0]]]]}', '{"inputs": 2.0}'):
        arrays, _ = request(body, {"x": T.DT_FLOAT})
        assert arrays["x"].size >= 1


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("", "document is empty"),
        ('{"signature_name": 5, "instances": [[1,2],[3,4],[5,6,7]]}', "must be a string value"),
        ('{"instances": [[1,2],[3,4],[5,6,7]], "inputs": [[1,2],[3,4],[5,6,7]]}', "Not formatted correctly"),
        ('{"instances": [[1,2],[3,4],[5,6,7]]}', "Expecting tensor size"),
        ('{"instances": [[1,2],[3,4],[[5,6]]]}', "Expecting shape"),
        ('{"instances": [1, [1]]}', "Expecting shape"),
        ('{"instances": [[1,2],["a", "b"]]}', "not of expected type"),
    ],
)
def test_single_unnamed_tensor_errors(body, fragment):
    err = error(body, {"default": T.DT_INT32})
    assert err.code == Code.INVALID_ARGUMENT and fragment in err.message


MULTI = {"int_tensor": T.DT_INT32, "str_tensor": T.DT_STRING}


@pytest.mark.parametrize(
    "instances, fragment",
    [
        (
            [
                {"int_tensor": [[1, 2], [3, 4], [5, 6]], "str_tensor": ["foo", "bar"]},
                {"int_tensor": [[[7, 8], [9, 0], [1, 2]]], "str_tensor": ["baz", "bat"]},
            ],
            "Expecting shape",
        ),
        (
            [
                {"int_tensor": [[1, 2], [3, 4], [5, 6], [7, 8]], "str_tensor": ["foo", "bar"]},
                {"int_tensor": [[7, 8], [9, 0], [1, 2]], "str_tensor": ["baz", "bat"]},
            ],
            "Expecting tensor size",
        ),
        (
            [
                {"int_tensor": [[1, 2], [3, 4], [5, 6]], "str_tensor": ["foo", "bar"]},
                [1, 20, 30],
                {"int_tensor": [[[7, 8], [9, 0], [1, 2]]], "str_tensor": ["baz", "bat"]},
            ],
            "Expecting object but got list",
        ),
    ],
)
def test_multiple_named_tensor_errors(instances, fragment):
    err = error(json.dumps({"instances": instances}), MULTI)
    assert err.code == Code.INVALID_ARGUMENT and fragment in err.message


def test_a_list_first_then_an_object_is_an_error():
    err = error(
        json.dumps({"instances": [["baz", "bar"], {"str_tensor": ["baz", "bat"]}]}), {"str_tensor": T.DT_STRING}
    )
    assert "Expecting value/list but got object" in err.message


# ------------------------------------------------------------------ b64 everywhere the official codec takes it


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"instances": [HELLO]}, [b"hello"]),
        ({"instances": [[HELLO, {"b64": "d29ybGQ"}]]}, [[b"hello", b"world"]]),  # padding may be left out
        ({"instances": [{"s": HELLO}]}, [b"hello"]),
        ({"instances": [{"s": [[HELLO]]}]}, [[[b"hello"]]]),
        ({"inputs": HELLO}, b"hello"),
        ({"inputs": [HELLO, "plain"]}, [b"hello", b"plain"]),
        ({"inputs": {"s": [[HELLO], [WORLD]]}}, [[b"hello"], [b"world"]]),
        ({"instances": [{"b64": base64.b64encode(b"\xff\x00").decode()}]}, [b"\xff\x00"]),
    ],
)
def test_b64_in_every_position(body, expected):
    arrays, _ = request(json.dumps(body), {"s": T.DT_STRING})
    same(arrays["s"], expected, object)


@pytest.mark.parametrize(
    "value, fragment",
    [
        ({"b64": "%%%"}, "Unable to base64 decode"),
        ({"b64": 5}, "not formatted correctly for base64 data"),
        ({"b64": "aGVsbG8=", "extra": 1}, "not formatted correctly for base64 data"),
    ],
)
def test_bad_b64_objects(value, fragment):
    err = error(json.dumps({"inputs": [value]}), {"s": T.DT_STRING})
    assert fragment in err.message


def test_b64_for_a_number_input_is_a_type_error():
    assert "is not of expected type: float" in error(json.dumps({"inputs": [HELLO]}), {"x": T.DT_FLOAT}).message


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("", "JSON Parse error: The document is empty"),
        ("instances = [1, 2]", "JSON Parse error: Invalid value"),
        ('{"instances": ["a", "b"]}', "not of expected type: float"),
    ],
)
def test_predict_request_errors(body, fragment):
    # The handler test's "incorrect type" case sends [1, 2] to a float model: the json_tensor.cc it was
    # written against rejected integers for float inputs; today's (MixedInputForFloatTensor) and this
    # codec accept them, so strings stand in for the wrong type here.
    assert fragment in error(body, {"x": T.DT_FLOAT}).message


def test_handler_predict_requests():
    arrays, fmt = request('{"instances": [[1.0, 2.0], [3.0, 4.0]]}', {"x": T.DT_FLOAT})
    assert fmt == "row"
    same(arrays["x"], [[1, 2], [3, 4]], np.float32)
    arrays, fmt = request('{"signature_name": "serving_default", "inputs": [3.0, 4.0]}', {"x": T.DT_FLOAT})


def test_only_a_body_for_numeric_inputs_is_scanned_for_booleans():
    """A boolean literal turns off the numeric fast path; it only matters where an input is numeric, so the
    text of a string input (here base64 that spells `true`) does not count."""
    body = json.dumps({"instances": [{"b64": base64.b64encode(b"\xb6\xbb\x9e").decode()}]}).encode()
    assert b"true" in body
    assert not tensor_json.may_hold_bools(body, {"images": T.DT_STRING})
    assert tensor_json.may_hold_bools(body, {"images": T.DT_STRING, "k": T.DT_INT32})
    assert not tensor_json.may_hold_bools(b'{"instances": [1, 2]}', {"x": T.DT_FLOAT})
    assert tensor_json.may_hold_bools(b'{"instances": [true, 2]}', {"x": T.DT_FLOAT})
    arrays, _ = request(body, {"images": T.DT_STRING}, checked=False)
    assert arrays["images"].tolist() == [b"\xb6\xbb\x9e"]
