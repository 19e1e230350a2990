"""The Open Inference Protocol's REST API (`/v2` on the REST port) against a real server: health, metadata,
JSON and binary tensors both ways, the same answers as TF Serving's API, and every malformed request a 400
(or the spec's other statuses) with a message, never a 500."""

from __future__ import annotations

import json
import re
import struct

import numpy as np
import pytest
import requests

from clients.tfs_rest import RestClient
from clients.v2_rest import V2RestClient
from protocol.generated.tensorflow.core.example import example_pb2
from protocol.v2 import binary

HEADERS = {"Content-Type": "application/json"}


def infer(server, model: str, body: dict | bytes, data: bytes = b"", path_version: str = "", **kwargs):
    """POST an inference request: a JSON object, with `data` after it as binary data when given."""
    header = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = dict(HEADERS)
    if data:
        headers = {"Content-Type": binary.BINARY_CONTENT_TYPE, binary.HEADER_LENGTH: str(len(header))}
    version = f"/versions/{path_version}" if path_version else ""
    return requests.post(
        f"{server.rest_url}/v2/models/{model}{version}/infer", data=header + data, headers=headers, timeout=60, **kwargs
    )


def split(response: requests.Response) -> tuple[dict, bytes]:
    length = response.headers.get(binary.HEADER_LENGTH)
    if length is None:
        return response.json(), b""
    return json.loads(response.content[: int(length)]), response.content[int(length) :]


# ---------------------------------------------------------------------------- health and metadata


def test_health_and_server_metadata(server):
    assert requests.get(f"{server.rest_url}/v2/health/live", timeout=10).json() == {"live": True}
    ready = requests.get(f"{server.rest_url}/v2/health/ready", timeout=10)
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    metadata = requests.get(f"{server.rest_url}/v2", timeout=10).json()
    assert metadata["name"] == "keras-to-serving" and metadata["version"]
    assert {"binary_tensor_data", "model_repository"} <= set(metadata["extensions"])


def test_model_readiness(server):
    url = f"{server.rest_url}/v2/models"
    assert requests.get(f"{url}/half_plus_two/ready", timeout=10).json() == {"name": "half_plus_two", "ready": True}
    assert requests.get(f"{url}/half_plus_two/versions/1/ready", timeout=10).status_code == 200
    assert requests.get(f"{url}/half_plus_two/versions/7/ready", timeout=10).status_code == 503
    missing = requests.get(f"{url}/nope/ready", timeout=10)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def test_model_metadata_of_a_multi_input_signature(server):
    metadata = requests.get(f"{server.rest_url}/v2/models/multi_io", timeout=10).json()
    assert metadata["name"] == "multi_io" and metadata["versions"] == ["1"]
    assert metadata["platform"] == "tensorflow_savedmodel"
    assert metadata["inputs"] == [
        {"name": "a", "datatype": "FP32", "shape": [-1, 2]},
        {"name": "b", "datatype": "INT64", "shape": [-1]},
    ]
    assert metadata["outputs"] == [
        {"name": "doubled", "datatype": "FP32", "shape": [-1, 2]},
        {"name": "flag", "datatype": "BOOL", "shape": [-1]},
        {"name": "total", "datatype": "FP32", "shape": [-1]},
    ]
    assert metadata["properties"]["signature_name"] == "serving_default"
    assert metadata["properties"]["version"] == "1"
    described = json.loads(metadata["properties"]["signature:serving_default"])
    assert described == {"inputs": metadata["inputs"], "outputs": metadata["outputs"]}


def test_metadata_of_another_signature_and_version(server):
    url = f"{server.rest_url}/v2/models/half_plus_two"
    assert requests.get(url, timeout=10).json()["versions"] == ["1", "2"]
    regress = requests.get(f"{url}/versions/1?signature_name=regress_x_to_y", timeout=10).json()
    assert regress["inputs"] == [{"name": "inputs", "datatype": "BYTES", "shape": [-1]}]
    assert regress["properties"] == {**regress["properties"], "signature_name": "regress_x_to_y", "version": "1"}
    unknown = requests.get(f"{url}?signature_name=nope", timeout=10)
    assert unknown.status_code == 400 and '"nope" not found' in unknown.json()["error"]
    assert requests.get(f"{url}/versions/9", timeout=10).status_code == 404


def test_any_rank_is_shown_as_one_unknown_dimension(server):
    metadata = requests.get(f"{server.rest_url}/v2/models/any_shape", timeout=10).json()
    assert {t["name"]: t["shape"] for t in metadata["inputs"]} == {
        "bin_tensor": [-1],
        "int_tensor": [-1],
        "str_tensor": [-1],
    }


# ---------------------------------------------------------------------------- inference


def test_json_request_flat_or_nested_with_id_and_version(server):
    flat = infer(
        server,
        "half_plus_two",
        {"id": "42", "inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2.5]}]},
    )
    nested = infer(
        server,
        "half_plus_two",
        {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [[1], [2.5]]}]},
        path_version="1",
    )
    assert flat.status_code == nested.status_code == 200
    assert flat.json() == {
        "model_name": "half_plus_two",
        "model_version": "2",
        "id": "42",
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [2], "data": [3.5, 4.25]}],
    }
    assert nested.json()["model_version"] == "1" and nested.json()["outputs"][0]["data"] == [2.5, 3.25]


def test_binary_request_and_answer(server):
    a = np.array([[1.5, 2.0], [-1.0, 0.25]], np.float32)
    b = np.array([3, -4], np.int64)
    header = {
        "inputs": [
            {"name": "a", "shape": [2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 16}},
            {"name": "b", "shape": [2], "datatype": "INT64", "parameters": {"binary_data_size": 16}},
        ],
        "outputs": [{"name": "total", "parameters": {"binary_data": True}}, {"name": "flag"}],
    }
    response = infer(server, "multi_io", header, a.tobytes() + b.astype("<i8").tobytes())
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/octet-stream"
    document, data = split(response)
    total, flag = document["outputs"]
    assert total == {"name": "total", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}}
    assert flag == {"name": "flag", "datatype": "BOOL", "shape": [2], "data": [True, False]}
    np.testing.assert_array_equal(np.frombuffer(data, "<f4"), a.sum(axis=1) + b)


def test_bytes_go_as_4_byte_length_and_bytes_and_non_utf8_answers_go_binary(server):
    texts = [b"\xff\xd8\xff jpeg", b"", "é".encode()]
    data = b"".join(struct.pack("<I", len(t)) + t for t in texts)
    header = {
        "inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "parameters": {"binary_data_size": len(data)}}]
    }
    document, rest = split(infer(server, "strings", header, data))
    outputs = {o["name"]: o for o in document["outputs"]}
    assert outputs["length"]["data"] == [8, 0, 2]
    assert outputs["text_bytes"]["parameters"] == {"binary_data_size": len(data)}  # not UTF-8: binary anyway
    assert rest[: len(data)] == data  # outputs in name order: length (JSON), text_bytes, upper


def test_half_floats_binary_or_json(server):
    h = np.array([0.5, -2.0, 65504.0], np.float16)
    with V2RestClient(server.rest_url) as client:
        assert client.metadata("float16").signature("serving_default").inputs["h"].dtype == "DT_HALF"
        assert client.predict("float16", {"h": h})["doubled"].tolist() == [1.0, -4.0, 131008.0]
    body = {"inputs": [{"name": "h", "shape": [3], "datatype": "FP16", "data": [0.5, -2, 65504]}]}
    assert infer(server, "float16", body).json()["outputs"][0]["data"] == [1.0, -4.0, 131008.0]


@pytest.mark.parametrize("as_binary", [True, False], ids=["binary", "json"])
def test_the_same_numbers_as_tf_servings_api(server, as_binary):
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    calls = [
        ("half_plus_two", {"x": x}, {}),
        ("half_plus_two", {"x": x}, {"version": 1}),
        ("multi_io", {"a": np.stack([x, -x], axis=1), "b": np.arange(7)}, {}),
        ("strings", {"text": np.array([b"ab", "\u00e9t\u00e9".encode()], dtype=object)}, {}),
    ]
    with RestClient(server.rest_url) as tfs, V2RestClient(server.rest_url, binary=as_binary) as v2:
        for model, inputs, address in calls:
            expected, got = tfs.predict(model, inputs, **address), v2.predict(model, inputs, **address)
            assert expected.keys() == got.keys()
            for name in expected:
                assert got[name].dtype == expected[name].dtype and got[name].tolist() == expected[name].tolist()


def test_another_signature_through_the_signature_name_parameter(server):
    example = example_pb2.Example()
    example.features.feature["x"].float_list.value.append(4.0)
    serialized = np.array([example.SerializeToString()], dtype=object)
    with V2RestClient(server.rest_url) as client:
        out = client.predict("half_plus_two", {"inputs": serialized}, signature="regress_x_to_y", version=1)
    with RestClient(server.rest_url) as tfs:
        assert out["outputs"].reshape(-1).tolist() == tfs.regress(
            "half_plus_two", [{"x": 4.0}], signature="regress_x_to_y", version=1
        )
    response = infer(
        server,
        "half_plus_two",
        {
            "parameters": {"signature_name": "nope"},
            "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
        },
    )
    assert response.status_code == 400 and '"nope" not found' in response.json()["error"]


def test_the_timeout_parameter_tightens_the_deadline(server):
    body = {
        "parameters": {"timeout": 200_000},
        "inputs": [{"name": "seconds", "shape": [1], "datatype": "FP32", "data": [1.0]}],
    }
    response = infer(server, "slow", body)
    assert response.status_code == 504 and "timeout" in response.json()["error"]


# ---------------------------------------------------------------------------- malformed requests

X = {"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2]}


@pytest.mark.parametrize(
    "body, data, status, message",
    [
        (b"{", b"", 400, "JSON Parse error"),
        (b"[]", b"", 400, "must be a JSON object"),
        ({"inputs": 3}, b"", 400, "'inputs' must be a list"),
        ({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}, b"", 400, "needs a 'name'"),
        ({"inputs": [X, X]}, b"", 400, "given more than once"),
        ({"inputs": [{**X, "datatype": "FP33"}]}, b"", 400, "unknown datatype 'FP33'"),
        ({"inputs": [{**X, "datatype": None}]}, b"", 400, "unknown datatype None"),
        ({"inputs": [{**X, "shape": [-2]}]}, b"", 400, "negative dimension"),
        ({"inputs": [{**X, "shape": [2.0]}]}, b"", 400, "must hold integers"),
        ({"inputs": [{**X, "shape": "2"}]}, b"", 400, "must hold integers"),
        ({"inputs": [{**X, "shape": [3]}]}, b"", 400, "holds 2 elements, shape \\[3\\] takes 3"),
        ({"inputs": [{**X, "shape": [2, 1], "data": [[1], [2, 3]]}]}, b"", 400, "different lengths"),
        ({"inputs": [{**X, "data": [1, "2"]}]}, b"", 400, "must be numbers"),
        ({"inputs": [{**X, "data": [True, 2]}]}, b"", 400, "must be numbers"),
        ({"inputs": [{**X, "datatype": "INT32"}]}, b"", 400, "is INT32, signature 'serving_default' takes FP32"),
        ({"inputs": [{**X, "shape": [1, 2]}]}, b"", 400, "incompatible with the signature shape"),
        (
            {"inputs": [{"name": "z", "shape": [1], "datatype": "FP32", "data": [1]}]},
            b"",
            400,
            "Missing but required: {x}",
        ),
        ({"inputs": [{k: v for k, v in X.items() if k != "data"}]}, b"", 400, "has neither"),
        ({"inputs": [{**X, "parameters": {"binary_data_size": 8}}]}, b"12345678", 400, "has both"),
        ({"inputs": [{**X, "parameters": {"binary_data_size": True}}]}, b"", 400, "must be an integer"),
        ({"inputs": [{**X, "parameters": [1]}]}, b"", 400, "must be an object"),
        ({"inputs": [X], "outputs": [{"name": "nope"}]}, b"", 400, "output tensor alias not found"),
        ({"inputs": [X], "outputs": [{"name": "y"}, {"name": "y"}]}, b"", 400, "requested more than once"),
        ({"inputs": [X], "outputs": "y"}, b"", 400, "'outputs' must be a list"),
        ({"inputs": [X], "id": 5}, b"", 400, "'id' must be a string"),
        ({"inputs": [X], "parameters": {"timeout": -1}}, b"", 400, "timeout"),
        ({"inputs": [X], "parameters": {"binary_data_output": "yes"}}, b"", 400, "must be a boolean"),
    ],
)
def test_malformed_requests_are_400_with_a_reason(server, body, data, status, message):
    response = infer(server, "half_plus_two", body, data)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert re.search(message, response.json()["error"]), response.json()["error"]


@pytest.mark.parametrize(
    "data, size, length, message",
    [
        (b"\x00" * 12, 12, None, "12 bytes of data, but shape \\[2\\] of FP32 takes 8"),
        (b"\x00" * 8 + b"xx", 8, None, "declare 8 bytes .* 10 follow"),
        (b"\x00" * 4, 8, None, "declare 8 bytes .* 4 follow"),
        (b"\x00" * 8, 8, "-3", "must be a non-negative integer"),
        (b"\x00" * 8, 8, "99999", "longer than the"),
        (b"\x00" * 8, 8, "0", "without an inference header"),
    ],
)
def test_bad_binary_data_is_400(server, data, size, length, message):
    header = json.dumps(
        {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": size}}]}
    ).encode()
    response = requests.post(
        f"{server.rest_url}/v2/models/half_plus_two/infer",
        data=header + data,
        headers={binary.HEADER_LENGTH: length if length is not None else str(len(header))},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert re.search(message, response.json()["error"]), response.json()["error"]


def test_bad_bytes_framing_is_400(server):
    data = struct.pack("<I", 1000) + b"abc"
    header = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 7}}]}
    response = infer(server, "strings", header, data)
    assert response.status_code == 400 and "says it holds 1000 bytes" in response.json()["error"]


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/v2/models/half_plus_two/infer", 400),
        ("POST", "/v2/models/half_plus_two", 400),
        ("GET", "/v2/models", 404),
        ("GET", "/v2/models/half_plus_two/config", 404),
        ("POST", "/v2/models/nope/infer", 404),
        ("POST", "/v2/models/half_plus_two/versions/99/infer", 404),
        ("POST", "/v2/models/half_plus_two/versions/canary/infer", 400),
        ("POST", "/v2/models/half_plus_two/versions/99999999999999999999999/infer", 400),
    ],
)
def test_addressing_errors(server, method, path, status):
    body = json.dumps({"inputs": [X]}) if method == "POST" else None
    response = requests.request(method, server.rest_url + path, data=body, timeout=10)
    assert response.status_code == status, response.text
    assert response.json()["error"]


def test_a_body_over_the_limit_is_413_before_it_is_read(server):
    response = requests.post(
        f"{server.rest_url}/v2/models/half_plus_two/infer",
        data=b"{" + b" " * 6_000_000 + b"}",
        headers=HEADERS,
        timeout=30,
    )
    assert response.status_code == 413 and "--max_request_body_bytes" in response.json()["error"]


def test_gzip_and_deflate_bodies(server):
    import gzip
    import zlib

    body = json.dumps({"inputs": [X]}).encode()
    for encoding, packed in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        response = requests.post(
            f"{server.rest_url}/v2/models/half_plus_two/infer",
            data=packed,
            headers={**HEADERS, "Content-Encoding": encoding},
            timeout=10,
        )
        assert response.status_code == 200 and response.json()["outputs"][0]["data"] == [3.5, 4.0]


def test_mutated_requests_never_answer_500(server):
    """Seeded random damage (flipped, cut, repeated bytes; lying header lengths) to valid JSON and binary
    requests: each answer is 200 or a 4xx with an error message."""
    rng = np.random.default_rng(21)
    json_body = json.dumps({"id": "1", "inputs": [X], "outputs": [{"name": "y"}]}).encode()
    header = json.dumps(
        {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}
    ).encode()
    bodies = [(json_body, None), (header + np.array([1, 2], "<f4").tobytes(), len(header))]
    statuses = set()
    for i in range(240):
        body, length = bodies[i % 2]
        damaged = bytearray(body)
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, len(damaged)))
            kind = rng.integers(0, 3)
            if kind == 0:
                damaged[at] = int(rng.integers(0, 256))
            elif kind == 1:
                del damaged[at : at + int(rng.integers(1, 8))]
            else:
                damaged[at:at] = damaged[at : at + int(rng.integers(1, 8))]
        headers = dict(HEADERS)
        if length is not None:
            headers[binary.HEADER_LENGTH] = str(length + int(rng.integers(-3, 4)) * (i % 3 == 0))
        response = requests.post(
            f"{server.rest_url}/v2/models/half_plus_two/infer", data=bytes(damaged), headers=headers, timeout=30
        )
        statuses.add(response.status_code)
        assert response.status_code == 200 or (400 <= response.status_code < 500), response.text
        assert response.status_code == 200 or response.json()["error"]
    assert 400 in statuses
