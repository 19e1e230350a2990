"""The JSON codec alone (no server): every case of tensorflow/serving's util/json_tensor_test.cc and the
request cases of model_servers/http_rest_api_handler_test.cc, ported to serving.tensor_json and the REST
request parsing in serving.rest. Where this project deliberately differs, the test says so."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest

from protocol.generated.tensorflow.core.framework import types_pb2 as T
from protocol.generated.tensorflow_serving.apis import classification_pb2, regression_pb2
from serving import rest, tensor_json
from serving.status import Code, ServingError

HELLO, WORLD = {"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}


def request(body: str | bytes, dtypes: dict[str, int], checked: bool = True) -> tuple[dict[str, np.ndarray], str]:
    """FillPredictRequestFromJson: the whole path from body bytes to input arrays, as the server runs it.

    `checked=False` takes the numpy fast path the server uses when the body holds no true/false. The typed
    path (serving.tensor_json.TypedRequest) runs on every body too: it must give the same arrays or step aside."""
    body = body.encode() if isinstance(body, str) else body
    typed = tensor_json.TypedRequest.parse(body)
    fast = typed.arrays(dtypes) if typed else None  # the server tries the typed path first
    try:
        doc = tensor_json.parse_document(body)
        tensor_json.signature_name(doc)
        reference = tensor_json.predict_request_arrays(doc, dtypes, checked)
    except ServingError:
        assert fast is None, "the typed path accepted a body the reference codec refuses"
        raise
    if fast is not None:
        assert fast[1] == reference[1] and list(fast[0]) == list(reference[0])
        for name, array in reference[0].items():
            same(fast[0][name], array, array.dtype)
    return reference


def error(body: str | bytes, dtypes: dict[str, int], checked: bool = True) -> ServingError:
    with pytest.raises(ServingError) as info:
        request(body, dtypes, checked)
    return info.value


def same(array: np.ndarray, expected, dtype) -> None:
    expected = np.array(expected, dtype=dtype)
    assert array.shape == expected.shape and array.dtype == expected.dtype
    if np.dtype(dtype).kind == "O":
        assert array.tolist() == expected.tolist()
    else:
        np.testing.assert_array_equal(array, expected)


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


def test_tensor_from_a_buffer_with_trailing_data():
    # Officially the buffer simply ends before the 'X'. This codec also ignores trailing data after the
    # document, as rapidjson's parse of a longer buffer does.
    for body in ('{"instances": [[1,2],[3,4],[5,6]]}', '{"instances": [[1,2],[3,4],[5,6]]}X'):
        arrays, _ = request(body, {"default": T.DT_INT32})
        same(arrays["default"], [[1, 2], [3, 4], [5, 6]], np.int32)


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


@pytest.mark.parametrize(
    "value, dtype",
    [
        ("1.7976931348623157e+308", T.DT_FLOAT),  # std::numeric_limits<double>::max()
        ("16777217", T.DT_FLOAT),  # 2**24 + 1: no float holds it
        ("9007199254740993", T.DT_DOUBLE),  # 2**53 + 1: no double holds it
    ],
)
def test_numbers_that_lose_precision_are_refused(value, dtype):
    for body in (f'{{"instances": [{value}]}}', f'{{"inputs": [[{value}, 1]]}}', f'{{"inputs": [[{value}, 0.5]]}}'):
        for checked in (True, False):
            err = error(body, {"default": dtype}, checked)
            assert err.code == Code.INVALID_ARGUMENT and "loss of precision" in err.message, body


def test_exactly_representable_numbers_are_kept():
    arrays, _ = request('{"instances": [16777216, 1e38, -3.4028234663852886e38, 16777217.0]}', {"x": T.DT_FLOAT})
    same(arrays["x"], [16777216, 1e38, -3.4028234663852886e38, 16777216], np.float32)
    arrays, _ = request('{"inputs": [9007199254740992, 1e308]}', {"x": T.DT_DOUBLE})
    same(arrays["x"], [2**53, 1e308], np.float64)


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


def test_b64_in_examples():
    req = regression_pb2.RegressionRequest()
    rest._fill_examples({"examples": [{"names": ["baz", HELLO]}]}, req)
    assert list(req.input.example_list.examples[0].features.feature["names"].bytes_list.value) == [b"baz", b"hello"]


# ------------------------------------------------------------------ nesting


def test_any_depth_in_a_key_the_codec_does_not_read():
    depth = 100_000
    deep = '[{"a": ' * depth + "1" + "}]" * depth
    body = '{"instances": [1.5], "extra": ' + deep + ', "signature_name": "serving_default"}'
    doc = tensor_json.parse_document(body.encode())
    assert tensor_json.signature_name(doc) == "serving_default"
    arrays, _ = tensor_json.predict_request_arrays(doc, {"x": T.DT_FLOAT})
    same(arrays["x"], [1.5], np.float32)


def test_unbalanced_deep_nesting_in_an_unread_key_is_still_an_error():
    body = '{"instances": [1], "extra": ' + "[" * 5000 + "}" * 5000 + "}"
    assert "JSON Parse error" in error(body, {"x": T.DT_FLOAT}).message


def test_deep_nesting_in_a_read_key_is_refused():
    # Deliberate difference: rapidjson parses 500,000 levels and fails later on the tensor's rank; this
    # codec refuses while parsing. Both are INVALID_ARGUMENT (400).
    body = '{"instances": ' + "[" * 500_000 + "1" + "]" * 500_000 + "}"
    err = error(body, {"x": T.DT_FLOAT})
    assert err.code == Code.INVALID_ARGUMENT and "nested too deeply" in err.message


# ------------------------------------------------------------------ MakeJsonFromTensors

INT_2x3x2 = np.array([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], np.int32)


def response(outputs: dict[str, np.ndarray], fmt: str):
    return json.loads(tensor_json.predict_response_json(outputs, fmt))


def test_from_json_single_tensor():
    assert response({"int_tensor": INT_2x3x2}, "row") == {"predictions": INT_2x3x2.tolist()}
    assert response({"int_tensor": INT_2x3x2}, "columnar") == {"outputs": INT_2x3x2.tolist()}


def test_from_json_single_scalar_tensor():
    values = np.array([1, 2, 3, 4, 5], np.int32)
    assert response({"int_tensor": values}, "row") == {"predictions": [1, 2, 3, 4, 5]}
    assert response({"int_tensor": values}, "columnar") == {"outputs": [1, 2, 3, 4, 5]}


def test_from_json_single_bytes_tensor():
    strings = np.array([[b"hello", b"world"], [b"tf", b"serving"]], dtype=object)
    assert response({"str_tensor_bytes": strings}, "row") == {
        "predictions": [[HELLO, WORLD], [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]]
    }


def _tokens(text: bytes) -> list[str]:
    """Numbers as written (CompareJsonAllValuesAsStrings)."""
    for mark in "[]{},":
        text = text.replace(mark.encode(), b" ")
    return [t for t in text.decode().split() if t[0] != '"']


def test_six_digit_precision():
    values = np.array([[9000000, 999999, 0.5], [0.0003, 0.00003, 555557.5]], np.float32)
    text = tensor_json.predict_response_json({"float_tensor": values}, "row")
    assert _tokens(text) == ["9e+06", "999999.0", "0.5", "0.0003", "3e-05", "555557.5"]


def test_non_finite_floats():
    values = np.array([[np.nan, np.inf], [3, -np.inf]], np.float32)
    text = tensor_json.predict_response_json({"float_tensor": values}, "row")
    assert _tokens(text) == ["NaN", "Infinity", "3.0", "-Infinity"]


def test_from_json_errors():
    with pytest.raises(ServingError, match="empty tensor map"):
        tensor_json.predict_response_json({}, "row")
    with pytest.raises(ServingError, match="tensor type: complex64"):
        tensor_json.predict_response_json({"tensor": np.array([1 + 2j], np.complex64)}, "row")
    with pytest.raises(ServingError, match="no shape information"):
        tensor_json.predict_response_json({"tensor": np.array(1, np.int32)}, "row")


def test_from_json_multiple_named_tensors():
    outputs = {
        "int_tensor": INT_2x3x2,
        "str_tensor": np.array([[b"foo", b"bar"], [b"baz", b"bat"]], dtype=object),
        "float_tensor": np.array([[1.0], [2.0]], np.float32),
        "double_scalar_tensor": np.array([8.0, 9.0], np.float64),
        "str_tensor_bytes": np.array([[b"hello", b"world"], [b"tf", b"serving"]], dtype=object),
    }
    assert response(outputs, "row") == {
        "predictions": [
            {
                "double_scalar_tensor": 8.0,
                "float_tensor": [1.0],
                "int_tensor": [[1, 2], [3, 4], [5, 6]],
                "str_tensor": ["foo", "bar"],
                "str_tensor_bytes": [HELLO, WORLD],
            },
            {
                "double_scalar_tensor": 9.0,
                "float_tensor": [2.0],
                "int_tensor": [[7, 8], [9, 0], [1, 2]],
                "str_tensor": ["baz", "bat"],
                "str_tensor_bytes": [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}],
            },
        ]
    }
    assert response(outputs, "columnar") == {
        "outputs": {
            "double_scalar_tensor": [8.0, 9.0],
            "float_tensor": [[1.0], [2.0]],
            "int_tensor": INT_2x3x2.tolist(),
            "str_tensor": [["foo", "bar"], ["baz", "bat"]],
            "str_tensor_bytes": [[HELLO, WORLD], [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]],
        }
    }


@pytest.mark.parametrize(
    "outputs",
    [
        {
            "int_tensor": np.arange(6, dtype=np.int32).reshape(2, 3),
            "str_tensor": np.array([[b"foo", b"bar", b"baz"]], dtype=object),
        },
        {"int_tensor": np.zeros((0, 2), np.int32), "str_tensor": np.array([[b"foo", b"bar"]], dtype=object)},
    ],
)
def test_inconsistent_batch_sizes(outputs):
    with pytest.raises(ServingError, match="inconsistent batch size"):
        tensor_json.predict_response_json(outputs, "row")


def test_zero_batch_tensors():
    assert response({"int_tensor": np.zeros((0, 2), np.int32)}, "row") == {"predictions": []}
    assert response(
        {"str_tensor": np.zeros((0, 1, 2), dtype=object), "float_tensor": np.zeros((0, 3, 4), np.float32)}, "row"
    ) == {"predictions": []}


def test_large_tensors_are_written_in_pieces_with_the_same_text():
    values = np.random.default_rng(0).normal(size=(3, 70_000)).astype(np.float32)
    text = tensor_json.predict_response_json({"x": values}, "columnar")
    np.testing.assert_array_equal(np.array(json.loads(text)["outputs"], np.float32), values)


# ------------------------------------------------------------------ classify / regress requests


def _fill(doc, kind):
    req = kind()
    rest._fill_examples(doc, req)
    return req


@pytest.mark.parametrize("kind", [classification_pb2.ClassificationRequest, regression_pb2.RegressionRequest])
def test_request_without_context(kind):
    req = _fill(
        {"examples": [{"names": ["foo", "bar"], "ratings": [8.0, 9.0], "age": 20}, {"names": ["baz"], "ratings": 6.0}]},
        kind,
    )
    first, second = req.input.example_list.examples
    assert list(first.features.feature["names"].bytes_list.value) == [b"foo", b"bar"]
    assert list(first.features.feature["ratings"].float_list.value) == [8.0, 9.0]
    assert list(first.features.feature["age"].int64_list.value) == [20]
    assert list(second.features.feature["ratings"].float_list.value) == [6.0]


@pytest.mark.parametrize("kind", [classification_pb2.ClassificationRequest, regression_pb2.RegressionRequest])
def test_request_with_context_and_signature(kind):
    doc = json.loads("""{"signature_name": "custom_signture",
        "context": {"query": "pizza", "location": ["sfo"]},
        "examples": [{"names": ["foo", "bar"], "ratings": [8.0, 9.0, NaN, Infinity], "age": 20},
                     {"names": ["baz", {"b64": "aGVsbG8="}], "ratings": 6.0, "intboolmix": [1, true, false]},
                     {"names": "bar", "ratings": -Infinity}]}""")
    req = _fill(doc, kind)
    assert req.model_spec.signature_name == "custom_signture"
    listed = req.input.example_list_with_context
    assert list(listed.context.features.feature["query"].bytes_list.value) == [b"pizza"]
    assert list(listed.context.features.feature["location"].bytes_list.value) == [b"sfo"]
    first, second, third = listed.examples
    ratings = list(first.features.feature["ratings"].float_list.value)
    assert ratings[:2] == [8.0, 9.0] and math.isnan(ratings[2]) and ratings[3] == math.inf
    assert list(second.features.feature["names"].bytes_list.value) == [b"baz", b"hello"]
    assert list(second.features.feature["intboolmix"].int64_list.value) == [1, 1, 0]
    assert list(third.features.feature["ratings"].float_list.value) == [-math.inf]


@pytest.mark.parametrize(
    "doc, fragment",
    [
        (
            {"signature_name": ["hello"], "examples": [{"names": ["foo", "bar"]}]},
            "'signature_name' key must be a string",
        ),
        ({"context": [{"names": ["foo", "bar"]}]}, "Example must be JSON object"),
        ({"examples": {"names": ["foo", "bar"]}}, "list/array"),
        ({"examples": [[{"names": ["foo", "bar"]}]]}, "Example must be JSON object"),
        ({"examples": [{"names": [10, None]}]}, "names has element with unexpected JSON type: Null"),
        ({"examples": [{"names": [10, 10.0]}]}, "feature: names expecting type: int64"),
        ({"examples": [{"names": [10, {"test": 10}]}]}, "names has element with unexpected JSON type: Object"),
        ({"examples": [{"names": [[10], 20]}]}, "names has element with unexpected JSON type: Array"),
        ({"examples": [{"names": [20, 18446744073709551603]}]}, "Only int64"),
        ({"examples": [{"names": 1.7976931348623157e308}]}, "loss of precision"),
    ],
)
@pytest.mark.parametrize("kind", [classification_pb2.ClassificationRequest, regression_pb2.RegressionRequest])
def test_classify_regress_json_errors(kind, doc, fragment):
    with pytest.raises(ServingError) as info:
        _fill(doc, kind)
    assert info.value.code == Code.INVALID_ARGUMENT and fragment in info.value.message


def test_classification_and_regression_results():
    result = classification_pb2.ClassificationResult()
    for row in ([("car", 0.2), ("bike", 0.7), ("bus", 0.1)], [("car", 0.7), ("bike", 0.1), ("bus", 0.2)]):
        classes = result.classifications.add()
        for label, score in row:
            classes.classes.add(label=label, score=score)
    assert json.loads(rest._classify_json(result)) == {
        "results": [[["car", 0.2], ["bike", 0.7], ["bus", 0.1]], [["car", 0.7], ["bike", 0.1], ["bus", 0.2]]]
    }
    regression = regression_pb2.RegressionResult()
    for value in (0.2, 0.9, 1.0):
        regression.regressions.add(value=value)
    assert json.loads(rest._regress_json(regression)) == {"results": [0.2, 0.9, 1.0]}
    non_finite = regression_pb2.RegressionResult()
    for value in (0.2, math.inf, 1.0, -math.inf, math.nan):
        non_finite.regressions.add(value=value)
    assert _tokens(rest._regress_json(non_finite).encode()) == ["0.2", "Infinity", "1.0", "-Infinity", "NaN"]
    with pytest.raises(ServingError, match="empty ClassificationResults"):
        rest._classify_json(classification_pb2.ClassificationResult())
    with pytest.raises(ServingError, match="empty RegressionResults"):
        rest._regress_json(regression_pb2.RegressionResult())


# ------------------------------------------------------------------ http_rest_api_handler_test.cc: requests


@pytest.mark.parametrize(
    "method, path, fragment",
    [
        ("GET", "/v1/foo", "Malformed request"),
        ("POST", "/v1/foo", "Malformed request"),
        ("GET", "/v1/models", "Missing model name"),
        ("POST", "/v1/models", "Malformed request"),
        ("GET", "/v1/models/foo:predict", "Malformed request"),
        ("GET", "/v1/models/foo/version/50:predict", "Malformed request"),
        ("POST", "/v1/models/foo/version/50:regress", "Malformed request"),
        ("POST", "/v1/models/foo/versions/HELLO:regress", "Malformed request"),
        ("POST", f"/v1/models/foo/versions/{2**64 - 1}:regress", "Failed to convert version"),
    ],
)
def test_unsupported_api_calls(method, path, fragment):
    with pytest.raises(ServingError) as info:
        rest.parse_route(method, path)
    assert info.value.code == Code.INVALID_ARGUMENT and fragment in info.value.message


def test_path_regex():
    from protocol import rest_paths

    assert rest_paths.is_api_path("/v1/models")
    assert not rest_paths.is_api_path("/statuspage") and not rest_paths.is_api_path("/index")


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
    # written against rejected integers for float inputs; today's (MixedInputForFloatTensor above) and this
    # codec accept them, so strings stand in for the wrong type here.
    assert fragment in error(body, {"x": T.DT_FLOAT}).message


def test_handler_predict_regress_classify_requests():
    arrays, fmt = request('{"instances": [[1.0, 2.0], [3.0, 4.0]]}', {"x": T.DT_FLOAT})
    assert fmt == "row"
    same(arrays["x"], [[1, 2], [3, 4]], np.float32)
    arrays, fmt = request('{"signature_name": "serving_default", "inputs": [3.0, 4.0]}', {"x": T.DT_FLOAT})
    assert fmt == "columnar"
    regress = _fill({"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}, regression_pb2.RegressionRequest)
    assert regress.model_spec.signature_name == "regress_x_to_y"
    assert list(regress.input.example_list.examples[0].features.feature["x"].float_list.value) == [80.0]
