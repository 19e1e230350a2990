"""REST contract details: routing, errors and messages, value rules, output formats, limits."""

from __future__ import annotations

import base64
import gzip
import json

import numpy as np
import pytest
import requests


def _post(server, path, body, **kwargs):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{server.rest_url}{path}", data=data, timeout=60, **kwargs)


PREDICT = "/v1/models/half_plus_two:predict"


@pytest.mark.parametrize(
    "method, path, status, message",
    [
        ("GET", "/v1/models", 400, "Missing model name in request."),
        (
            "POST",
            "/v1/models/half_plus_two/versions/abc:predict",
            400,
            "Malformed request: POST /v1/models/half_plus_two/versions/abc:predict",
        ),
        ("GET", "/v1/models/half_plus_two:predict", 400, "Malformed request: GET /v1/models/half_plus_two:predict"),
        ("POST", "/v1/models/half_plus_two:PREDICTX", 400, "Malformed request: POST /v1/models/half_plus_two:PREDICTX"),
        ("PUT", "/v1/models/half_plus_two:predict", 400, "Malformed request: PUT /v1/models/half_plus_two:predict"),
        (
            "POST",
            "/v1/models/half_plus_two/versions/1/labels/x:predict",
            400,
            "Malformed request: POST /v1/models/half_plus_two/versions/1/labels/x:predict",
        ),
        ("GET", "/v1/models/half_plus_two/versions/99", 404, "Could not find version 99 of model half_plus_two"),
        ("GET", "/v1/models/nope", 404, "Could not find any versions of model nope"),
    ],
)
def test_routing_errors(server, method, path, status, message):
    reply = requests.request(method, f"{server.rest_url}{path}", data=b"{}", timeout=30)
    assert reply.status_code == status
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {"error": message}


def test_paths_outside_the_apis_are_404_without_json(server):
    """Outside /v1 and the Open Inference Protocol's /v2 (tests/serving/api/test_v2_rest.py)."""
    reply = requests.get(f"{server.rest_url}/v3/models/half_plus_two", timeout=30)
    assert reply.status_code == 404
    assert reply.headers["Content-Type"] != "application/json"
    assert requests.get(f"{server.rest_url}/", timeout=30).status_code == 404


def test_path_is_case_insensitive_and_percent_decoded(server):
    reply = _post(server, "/V1/MODELS/half%5Fplus%5Ftwo/VERSIONS/1:Predict", {"instances": [0.0]})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"predictions": [2.0]}


@pytest.mark.parametrize(
    "path, body, status, fragment",
    [
        (
            "/v1/models/half_plus_two/versions/99:predict",
            {"instances": [1.0]},
            404,
            "Servable not found for request: Specific(half_plus_two, 99)",
        ),
        (
            "/v1/models/half_plus_two/labels/nolabel:predict",
            {"instances": [1.0]},
            400,
            "Unrecognized servable version label: nolabel",
        ),
        (PREDICT, b"", 400, "JSON Parse error: The document is empty"),
        (PREDICT, b"instances = [1, 2]", 400, "JSON Parse error: Invalid value"),
        (PREDICT, b"[1, 2]", 400, "Is not object"),
        (PREDICT, {"signature_name": 100, "instances": [1.0]}, 400, "'signature_name' key must be a string value."),
        (
            PREDICT,
            {"signature_name": "nope", "instances": [1.0]},
            400,
            'Serving signature name: "nope" not found in signature def',
        ),
        (PREDICT, {"instances": [1.0], "inputs": [1.0]}, 400, "expecting only one of 'inputs' or 'instances'"),
        (PREDICT, {"signature_name": "serving_default"}, 400, "Missing 'inputs' or 'instances' key"),
        (PREDICT, {"instances": []}, 400, "No values in 'instances' array"),
        (PREDICT, {"instances": ["x", "y"]}, 400, "is not of expected type: float"),
        (PREDICT, {"instances": [true_ := True]}, 400, "Type: True is not of expected type: float"),
        (PREDICT, {"inputs": [[1.0], 2.0]}, 400, "found at incorrect level: 2"),
        (PREDICT, {"inputs": [[1.0], [2.0, 3.0]]}, 400, "Encountered list at unexpected size: 2 at level: 1"),
        (
            "/v1/models/multi_io:predict",
            {"instances": [{"a": [1.0, 2.0], "b": 1.0}]},
            400,
            "is not of expected type: int64",
        ),
        (
            "/v1/models/multi_io:predict",
            {"inputs": {"a": [[1.0, 2.0]]}},
            400,
            "Missing named input: b in 'inputs' object.",
        ),
        ("/v1/models/multi_io:predict", {"instances": [[1.0, 2.0]]}, 400, "instances is a plain list"),
        (
            "/v1/models/multi_io:predict",
            {"instances": [{"a": [1.0, 2.0], "b": 1}, {"a": [1.0], "b": 1}]},
            400,
            "Expecting tensor size: 2 but got: 1",
        ),
        ("/v1/models/multi_io:predict", {"instances": [{"a": [1.0, 2.0]}]}, 400, "keys must be equal to: a,b"),
        (  # shapes are the graph's to judge
            "/v1/models/multi_io:predict",
            {"inputs": {"a": [1.0, 2.0, 3.0], "b": [1]}},
            400,
            "Invalid reduction dimension",
        ),
        ("/v1/models/strings:predict", {"instances": [{"b64": "%%%"}]}, 400, "Unable to base64 decode"),
        ("/v1/models/strings:predict", {"instances": [1]}, 400, "is not of expected type: string"),
    ],
)
def test_request_errors(server, path, body, status, fragment):
    reply = _post(server, path, body)
    assert reply.status_code == status, reply.text
    assert fragment in reply.json()["error"]


def test_half_inputs_are_unimplemented_over_rest(server):
    columnar = _post(server, "/v1/models/float16:predict", {"inputs": [1.5]})
    assert columnar.status_code == 501
    assert columnar.json() == {"error": "Conversion of JSON Value: 1.5 to type: half"}
    # json_tensor.cc wraps per-instance errors in INVALID_ARGUMENT, so the row format answers 400
    row = _post(server, "/v1/models/float16:predict", {"instances": [1.5]})
    assert row.status_code == 400
    assert row.json() == {
        "error": "Failed to process element: 0 of 'instances' list. Error: UNIMPLEMENTED: "
        "Conversion of JSON Value: 1.5 to type: half"
    }


def test_unknown_top_level_keys_are_ignored(server):
    reply = _post(server, PREDICT, {"instances": [2.0], "extra": {"anything": 1}})
    assert reply.json() == {"predictions": [4.0]}


def test_floats_written_like_the_official_server(server):
    third = np.float32(1.0) / np.float32(3.0)
    reply = _post(
        server,
        "/v1/models/half_plus_two/versions/1:predict",
        b'{"inputs": [0.1, NaN, Infinity, -Infinity, 2, %s, 39999996]}' % repr(float(third)).encode(),
    )
    assert reply.status_code == 200, reply.text
    text = reply.text
    expected = np.float32(0.5) * np.array([0.1, np.nan, np.inf, -np.inf, 2, third, 39999996], np.float32) + np.float32(
        2
    )
    # 2.05 round-trips in six digits; the third needs nine; integral values get ".0"; 1e7+2 in %g form;
    # the columnar format puts each value on its own line.
    tokens = ["2.05", "NaN", "Infinity", "-Infinity", "3.0", f"{expected[5]:.9g}", "2e+07"]
    assert text == '{\n    "outputs": [\n' + ",\n".join(" " * 8 + t for t in tokens) + "\n    ]\n}"
    values = json.loads(text)["outputs"]
    np.testing.assert_array_equal(np.array(values, np.float32), expected)


def test_integer_inputs_and_bool_outputs(server):
    reply = _post(
        server, "/v1/models/multi_io:predict", {"instances": [{"a": [1.0, 2.0], "b": 3}, {"a": [0.5, 0.25], "b": -1}]}
    )
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "predictions": [
            {"doubled": [2.0, 4.0], "flag": True, "total": 6.0},
            {"doubled": [1.0, 0.5], "flag": False, "total": -0.25},
        ]
    }
    columnar = _post(server, "/v1/models/multi_io:predict", {"inputs": {"a": [[1, 2]], "b": [2], "ignored": 1}})
    assert columnar.json() == {"outputs": {"doubled": [[2.0, 4.0]], "flag": [True], "total": [5.0]}}


def test_b64_in_and_bytes_out(server):
    raw = bytes([0, 255, 10, 65])
    reply = _post(
        server, "/v1/models/strings:predict", {"instances": ["hello", {"b64": base64.b64encode(raw).decode()}]}
    )
    assert reply.status_code == 200, reply.text
    rows = reply.json()["predictions"]
    assert rows[0] == {"upper": "HELLO", "length": 5, "text_bytes": {"b64": base64.b64encode(b"hello").decode()}}
    assert base64.b64decode(rows[1]["text_bytes"]["b64"]) == raw
    assert rows[1]["length"] == 4


def test_classify_and_regress(server):
    examples = {"examples": [{"x": 2.0}, {"x": [4.0]}]}
    classify = _post(
        server, "/v1/models/half_plus_two/versions/1:classify", {"signature_name": "classify_x_to_y", **examples}
    )
    assert classify.json() == {"results": [[["", 3.0]], [["", 4.0]]]}
    regress = _post(server, "/v1/models/half_plus_two:regress", {"signature_name": "regress_x_to_y", **examples})
    assert regress.json() == {"results": [4.0, 5.0]}
    context = _post(
        server,
        "/v1/models/half_plus_two/versions/1:regress",
        {"signature_name": "regress_x_to_y", "context": {"x": 10.0}, "examples": [{}, {"x": 0.0}]},
    )
    assert context.json() == {"results": [7.0, 2.0]}
    bad = _post(server, "/v1/models/half_plus_two:classify", {"signature_name": "classify_x_to_y"})
    assert bad.status_code == 400 and "'examples' is expected" in bad.json()["error"]
    mixed = _post(
        server,
        "/v1/models/half_plus_two:classify",
        {"signature_name": "classify_x_to_y", "examples": [{"x": [1.0, "a"]}]},
    )
    assert mixed.status_code == 400 and "Unexpected element type in feature: x" in mixed.json()["error"]


def test_deep_nesting_is_rejected_not_fatal(server):
    depth = 500_000
    body = b'{"instances": ' + b"[" * depth + b"1.0" + b"]" * depth + b"}"
    reply = _post(server, PREDICT, body)
    assert reply.status_code == 400
    assert "error" in reply.json()
    assert _post(server, PREDICT, {"instances": [2.0]}).status_code == 200


def test_body_over_limit_is_413_and_gzip_accepted(server):
    big = b'{"instances": [' + b"1.0," * 1_500_000 + b"1.0]}"
    reply = _post(server, PREDICT, big)
    assert reply.status_code == 413 and "error" in reply.json()
    zipped = gzip.compress(json.dumps({"instances": [2.0, 4.0]}).encode())
    reply = _post(server, PREDICT, zipped, headers={"Content-Encoding": "gzip"})
    assert reply.status_code == 200 and reply.json() == {"predictions": [4.0, 5.0]}


def test_timeout_gives_504(server):
    reply = _post(server, "/v1/models/slow:predict", {"instances": [3.5]})
    assert reply.status_code == 504
    assert "error" in reply.json()
    assert _post(server, "/v1/models/slow:predict", {"instances": [0.0]}).json() == {"predictions": [0.0]}


def test_no_cors_headers_by_default(server):
    reply = _post(server, PREDICT, {"instances": [1.0]})
    assert "Access-Control-Allow-Origin" not in reply.headers


def test_body_limit_applies_after_gzip_decoding(server):
    body = b'{"instances": [' + b"1.0," * 1_500_000 + b"1.0]}"  # 6 MB, over the 5 MB limit
    zipped = gzip.compress(body)
    assert len(zipped) < 100_000
    reply = _post(server, PREDICT, zipped, headers={"Content-Encoding": "gzip"})
    assert reply.status_code == 413 and "error" in reply.json()


# ------------------------------------------------------------------ json_tensor.cc's behaviours, over HTTP

V1 = "/v1/models/half_plus_two/versions/1"
HELLO_B64 = {"b64": base64.b64encode(b"hello").decode()}


def test_a_named_b64_scalar_in_the_columnar_format(server):
    # json_tensor_test.cc's MultipleNamedTensorColumnarFormat, answered by a model that takes any shape.
    body = {"inputs": {"int_tensor": [[[1, 2], [3, 4], [5, 6]]], "str_tensor": ["foo", "bar"], "bin_tensor": HELLO_B64}}
    reply = _post(server, "/v1/models/any_shape:predict", body)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "outputs": {"bin_bytes": HELLO_B64, "int_doubled": [[[2, 4], [6, 8], [10, 12]]], "str": ["foo", "bar"]}
    }
    rows = _post(
        server,
        "/v1/models/any_shape:predict",
        {"instances": [{"int_tensor": 1, "str_tensor": "a", "bin_tensor": HELLO_B64}]},
    )
    assert rows.json() == {"predictions": [{"bin_bytes": HELLO_B64, "int_doubled": 2, "str": "a"}]}


def test_numbers_lose_precision_as_officially(server):
    # FloatTensorWithPrecisionLoss and FloatTensorThatExceedsMaxReturnsInf: accepted, rounded, infinite.
    reply = _post(
        server, V1 + ":predict", b'{"instances": [1435774380, 1.7976931348623157e308, -1.7976931348623157e308]}'
    )
    assert reply.status_code == 200, reply.text
    x = np.array([1435774336.0, np.inf, -np.inf], np.float32)
    assert reply.json() == {"predictions": (np.float32(0.5) * x + np.float32(2)).tolist()}


def test_answers_are_laid_out_as_the_official_server(server):
    assert _post(server, V1 + ":predict", {"instances": [2.0, 3.0, 4.0]}).content == (
        b'{\n    "predictions": [3.0, 3.5, 4.0\n    ]\n}'
    )
    assert _post(server, V1 + ":predict", {"inputs": [2.0, 3.0]}).content == (
        b'{\n    "outputs": [\n        3.0,\n        3.5\n    ]\n}'
    )
    examples = {"examples": [{"x": 2.0}]}
    assert _post(server, V1 + ":regress", {"signature_name": "regress_x_to_y", **examples}).content == (
        b'{\n    "results": [3.0]\n}'
    )
    assert _post(server, V1 + ":classify", {"signature_name": "classify_x_to_y", **examples}).content == (
        b'{\n    "results": [[["", 3.0]]\n    ]\n}'
    )
    assert _post(server, V1 + ":predict", {"signature_name": "nope", "instances": [1.0]}).content == (
        b'{\n    "error": "Serving signature name: \\"nope\\" not found in signature def"\n}'
    )
    status = requests.get(server.rest_url + V1, timeout=30).content
    assert status == (
        b'{\n "model_version_status": [\n  {\n   "version": "1",\n   "state": "AVAILABLE",\n   "status": {\n'
        b'    "error_code": "OK",\n    "error_message": ""\n   }\n  }\n ]\n}\n'
    )
    metadata = requests.get(server.rest_url + V1 + "/metadata", timeout=30).content
    assert metadata.startswith(
        b'{\n"model_spec":{\n "name": "half_plus_two",\n "version": "1",\n "signature_name": ""\n}\n,\n'
        b'"metadata": {"signature_def": {\n "signature_def": {\n'
    )
    assert metadata.endswith(b"\n }\n}\n}\n}\n") and json.loads(metadata)["model_spec"]["version"] == "1"


def test_bodies_are_read_as_rapidjson_reads_them(server):
    # A byte order mark is skipped, whatever follows the document is ignored, NaN is a number.
    reply = _post(server, V1 + ":predict", b'\xef\xbb\xbf{"instances": [2.0, NaN]} and then anything')
    assert reply.status_code == 200, reply.text
    assert reply.content == b'{\n    "predictions": [3.0, NaN\n    ]\n}'
    # String bytes are not checked for UTF-8: they reach the model and come back as they were sent.
    reply = _post(server, "/v1/models/strings:predict", b'{"instances": ["caf\xe9"]}')
    assert reply.status_code == 200, reply.text
    assert b'"upper": "CAF\xe9"' in reply.content
    assert b'"b64": "' + base64.b64encode(b"caf\xe9") + b'"' in reply.content
