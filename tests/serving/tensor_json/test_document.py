"""serving.tensor_json.document: the request body parsed as json_tensor.cc's ParseJson parses it (rapidjson with
kParseIterativeFlag | kParseNanAndInfFlag | kParseStopWhenDoneFlag over an EncodedInputStream)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from protocol.generated.tensorflow.core.framework import types_pb2 as T
from serving import tensor_json
from serving.errors import Code, ServingError
from tests.serving.tensor_json.codec import error, request, same


def parse_error(body: bytes) -> str:
    with pytest.raises(ServingError) as info:
        tensor_json.parse_document(body)
    assert info.value.code == Code.INVALID_ARGUMENT
    return info.value.message


def test_data_after_the_document_is_ignored():
    # kParseStopWhenDoneFlag: parsing stops after the first value (json_tensor_test.cc's non-null-terminated
    # buffer); whatever follows, even another document or bytes that are not JSON, is never read.
    for tail in ("", "X", " {}", "]]]", "\x00\xff", '{"instances": [[9, 9]]}'):
        arrays, _ = request('{"instances": [[1,2],[3,4],[5,6]]}' + tail, {"default": T.DT_INT32})
        same(arrays["default"], [[1, 2], [3, 4], [5, 6]], np.int32)


def test_a_byte_order_mark_is_skipped():
    arrays, _ = request(b'\xef\xbb\xbf{"inputs": [1.5]}', {"x": T.DT_FLOAT})
    same(arrays["x"], [1.5], np.float32)


def test_nan_and_infinity_literals_are_numbers():
    arrays, _ = request('{"inputs": [NaN, Infinity, -Infinity, 1]}', {"x": T.DT_FLOAT})
    values = arrays["x"]
    assert math.isnan(values[0]) and values[1] == np.inf and values[2] == -np.inf and values[3] == 1


def test_string_bytes_are_taken_as_sent():
    # No kParseValidateEncodingFlag: bytes that are not UTF-8 inside a string reach the string tensor unchanged.
    arrays, _ = request(b'{"inputs": ["caf\xe9", "\xff\xfe", "ok"]}', {"s": T.DT_STRING})
    same(arrays["s"], [b"caf\xe9", b"\xff\xfe", b"ok"], object)
    arrays, _ = request('{"inputs": ["\\udc00"]}', {"s": T.DT_STRING})  # a lone low surrogate escape
    same(arrays["s"], ["\udc00".encode("utf-8", "surrogatepass")], object)


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "JSON Parse error: The document is empty"),
        (b"  \n ", "JSON Parse error: The document is empty. at offset: 4"),
        (b"\xef\xbb\xbf", "JSON Parse error: The document is empty. at offset: 3"),
        (b"instances = [1, 2]", "JSON Parse error: Invalid value. at offset: 0"),
        (b'{"inputs": [1e400]}', "JSON Parse error: Number too big to be stored in double. at offset: 12"),
        (b'{"inputs": [1, 2}', "JSON Parse error: Missing a comma or ']' after an array element. at offset: 16"),
        (b'{"inputs" [1]}', "JSON Parse error: Missing a colon after a name of object member. at offset: 10"),
        (b'{"\xc3\xa9": x}', "JSON Parse error: Invalid value. at offset: 7"),  # offsets count bytes
        (b"[1, 2]", "JSON Value: [1, 2] Is not object"),
        (b'"text"', 'JSON Value: "text" Is not object'),
    ],
)
def test_parse_errors_are_rapidjsons(body, message):
    assert parse_error(body) == message


def test_integers_past_64_bits_are_doubles_in_every_parser():
    for body in (b'{"inputs": [18446744073709551616]}', b'{"inputs": [18446744073709551616, NaN]}'):
        doc = tensor_json.parse_document(body)  # orjson, then the reference parser (NaN)
        assert doc["inputs"][0] == 2.0**64 and isinstance(doc["inputs"][0], float)


def test_signature_name_must_be_a_string():
    doc = tensor_json.parse_document(b'{"signature_name": 5, "instances": [1]}')
    with pytest.raises(ServingError, match="'signature_name' key must be a string value"):
        tensor_json.signature_name(doc)


# ------------------------------------------------------------------ nesting (iterative parsing: any depth)


def test_any_depth_in_a_key_the_codec_does_not_read():
    # json_tensor_test.cc's DeeplyNestedWellFormed, with objects in the way too.
    for deep in ("[" * 500_000 + "]" * 500_000, '[{"a": ' * 100_000 + "1" + "}]" * 100_000):
        body = '{"instances": [1.5], "nested": ' + deep + ', "signature_name": "serving_default"}'
        doc = tensor_json.parse_document(body.encode())
        assert tensor_json.signature_name(doc) == "serving_default"
        arrays, _ = tensor_json.predict_request_arrays(doc, {"x": T.DT_FLOAT})
        same(arrays["x"], [1.5], np.float32)


def test_a_deep_signature_name_is_not_a_string():
    # DeeplyNestedMalformed: parsed, then refused as a signature name.
    body = '{"signature_name": ' + "[" * 500_000 + "]" * 500_000 + "}"
    assert "key must be a string value" in parse_error_or_signature(body.encode())


def parse_error_or_signature(body: bytes) -> str:
    with pytest.raises(ServingError) as info:
        tensor_json.signature_name(tensor_json.parse_document(body))
    return info.value.message


def test_unbalanced_deep_nesting_in_an_unread_key_is_still_an_error():
    body = '{"instances": [1], "extra": ' + "[" * 5000 + "}" * 5000 + "}"
    assert "JSON Parse error" in error(body, {"x": T.DT_FLOAT}).message


def test_deep_nesting_in_a_read_key_is_refused():
    # Deliberate difference: rapidjson parses 500,000 levels and fails later on the tensor's rank; this
    # codec refuses while parsing. Both are INVALID_ARGUMENT (400).
    body = '{"instances": ' + "[" * 500_000 + "1" + "]" * 500_000 + "}"
    err = error(body, {"x": T.DT_FLOAT})
    assert err.code == Code.INVALID_ARGUMENT and "nested too deeply" in err.message
