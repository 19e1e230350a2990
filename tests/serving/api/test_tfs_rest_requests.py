"""serving.api.tfs_rest's request parsing without a server: classify/regress examples
(FillClassifyRegressRequestFromJson, json_tensor_test.cc's ClassifyRegressRequestTest) and the routes of
http_rest_api_handler_test.cc."""

from __future__ import annotations

import json
import math

import pytest

from protocol.generated.tensorflow_serving.apis import classification_pb2, regression_pb2
from serving.api import tfs_rest as rest
from serving.errors import Code, ServingError
from tests.serving.tensor_json.codec import HELLO

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
    ],
)
@pytest.mark.parametrize("kind", [classification_pb2.ClassificationRequest, regression_pb2.RegressionRequest])
def test_classify_regress_json_errors(kind, doc, fragment):
    with pytest.raises(ServingError) as info:
        _fill(doc, kind)
    assert info.value.code == Code.INVALID_ARGUMENT and fragment in info.value.message


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


def test_handler_regress_request():
    regress = _fill({"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}, regression_pb2.RegressionRequest)
    assert regress.model_spec.signature_name == "regress_x_to_y"
    assert list(regress.input.example_list.examples[0].features.feature["x"].float_list.value) == [80.0]


def test_b64_and_raw_bytes_in_examples():
    req = regression_pb2.RegressionRequest()
    rest._fill_examples({"examples": [{"names": ["baz", HELLO, "caf\udce9"]}]}, req)
    assert list(req.input.example_list.examples[0].features.feature["names"].bytes_list.value) == [
        b"baz",
        b"hello",
        b"caf\xe9",  # bytes that were not UTF-8 in the body, as they came
    ]


def test_float_features_lose_precision_as_officially():
    # AddValueToFeature stores GetFloat(): no precision check, DBL_MAX becomes inf.
    req = _fill({"examples": [{"x": [1.7976931348623157e308, 1435774380.5]}]}, regression_pb2.RegressionRequest)
    assert list(req.input.example_list.examples[0].features.feature["x"].float_list.value) == [math.inf, 1435774336.0]
