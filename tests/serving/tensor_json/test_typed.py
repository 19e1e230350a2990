"""serving.tensor_json.typed: regular numeric tensors go from the body straight into typed arrays, identical to
the reference codec's; every other body steps aside (None) so the reference codec gives its result or its
official error."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from protocol.generated.tensorflow.core.framework import types_pb2 as T
from serving import tensor_json
from serving.errors import ServingError
from serving.request_limits import RequestLimits

X = {"x": T.DT_FLOAT}


def typed(body: str | bytes, dtypes: dict[str, int], limits: RequestLimits = RequestLimits()):
    body = body.encode() if isinstance(body, str) else body
    request = tensor_json.TypedRequest.parse(body)
    return None if request is None else request.arrays(dtypes, limits)


def reference(body: str | bytes, dtypes: dict[str, int], limits: RequestLimits = RequestLimits()):
    body = body.encode() if isinstance(body, str) else body
    return tensor_json.predict_request_arrays(tensor_json.parse_document(body), dtypes, True, limits)


def assert_same(got, expected) -> None:
    assert got[1] == expected[1] and list(got[0]) == list(expected[0])
    for name, array in expected[0].items():
        assert got[0][name].dtype == array.dtype and got[0][name].shape == array.shape
        np.testing.assert_array_equal(got[0][name], array)
        assert got[0][name].flags.writeable


@pytest.mark.parametrize(
    "body, dtypes",
    [
        ('{"inputs": [[1, 2.5], [3, -4e-3]]}', X),
        ('{"instances": [[1, 2.5], [3, -4e-3]], "signature_name": "serving_default"}', X),
        ('{"instances": [0.5, 1, 2]}', X),
        ('{"inputs": [[1, 2], [3, 4]]}', {"x": T.DT_DOUBLE}),
        ('{"inputs": [[[1, -2147483648], [2147483647, 0]]]}', {"x": T.DT_INT32}),
        ('{"inputs": [9007199254740993, -5]}', {"x": T.DT_INT64}),
        ('{"inputs": [0, 255]}', {"x": T.DT_UINT8}),
        ('{"inputs": {"a": [1.5, 2], "b": [[3]], "unused": 7}}', {"a": T.DT_FLOAT, "b": T.DT_INT32}),
        ('{"instances": [{"a": [1, 2], "b": [[3]]}, {"b": [[4]], "a": [5, 6]}]}', {"a": T.DT_FLOAT, "b": T.DT_INT64}),
        ('{"inputs": [16777215, -16777215, 16777216.5, 1e-45, -0.0]}', X),  # exact integers, tiny values
        ('{"inputs": [16777217, 1435774380, 1e20]}', X),  # rounded to float, as officially
        ('{"inputs": [1e39, -1.7976931348623157e308]}', X),  # past float's range: +-inf
        ('{"inputs": [300, -129]}', {"x": T.DT_INT8}),  # any int32, wrapped
        ('{"inputs": [9007199254740993]}', {"x": T.DT_DOUBLE}),
    ],
)
def test_regular_numeric_tensors_take_the_typed_path(body, dtypes):
    got = typed(body, dtypes)
    assert got is not None, "expected the typed path"
    assert_same(got, reference(body, dtypes))


@pytest.mark.parametrize(
    "body, dtypes",
    [
        ('{"inputs": [[1, 2], [3]]}', X),  # ragged
        ('{"inputs": [[1, 2], [3, 4, 5], [6]]}', X),  # ragged, with as many numbers and lists as (3, 2)
        ('{"inputs": [[1], [], [2, 3]]}', X),
        ('{"inputs": [[1, 2], [3, [4]]]}', X),  # a list where a number belongs, same count
        ('{"inputs": [[1, 2], 3]}', X),  # a number where a list belongs
        ('{"instances": [[1, 2], [3, 4, 5]]}', X),
        ('{"inputs": [1, true]}', X),  # bool among numbers
        ('{"inputs": [true, false]}', {"x": T.DT_BOOL}),  # bools are left to the reference path
        ('{"inputs": [1, null]}', X),
        ('{"inputs": [1, "2"]}', X),
        ('{"inputs": [{"b64": "aGVsbG8="}]}', {"x": T.DT_STRING}),
        ('{"inputs": [1, NaN]}', X),  # not JSON for simdjson; the reference accepts it
        ('{"inputs": [2147483648]}', {"x": T.DT_INT8}),  # out of the official int32 range
        ('{"inputs": [2147483648]}', {"x": T.DT_INT32}),
        ('{"inputs": [-1]}', {"x": T.DT_UINT32}),
        ('{"inputs": [1.0]}', {"x": T.DT_INT32}),  # a float for an integer type
        ('{"inputs": [1, 2], "instances": [1, 2]}', X),
        ('{"inputs": [1, 2], "context": [[1]]}', X),  # another list in the body: not provably regular
        ('{"inputs": [1, 2], "inputs": [3, 4]}', X),  # duplicate keys
        ('{"inputs": [1, 2], "signature_name": 5}', X),
        ('{"inputs": [1.5]}', {"x": T.DT_HALF}),
        ('{"inputs": []}', X),
        ('{"inputs": 1.5}', X),
        ("[1, 2]", X),
        ('{"inputs": [1, 2]}X', X),  # trailing data: the reference path ignores it
        ('{"instances": [{"a": [1], "b": [2]}, {"a": [3]}]}', {"a": T.DT_FLOAT, "b": T.DT_FLOAT}),
        ('{"instances": [{"a": [1], "b": [2]}, {"a": [3], "b": [4, 5]}]}', {"a": T.DT_FLOAT, "b": T.DT_FLOAT}),
        ('{"inputs": {"a": [1]}}', {"a": T.DT_FLOAT, "b": T.DT_FLOAT}),
        ('{"instances": [[1], [2]]}', {"a": T.DT_FLOAT, "b": T.DT_FLOAT}),
    ],
)
def test_everything_else_steps_aside_to_the_reference_codec(body, dtypes):
    assert typed(body, dtypes) is None
    try:  # whatever the reference codec says (result or official error) is what the server answers
        reference(body, dtypes)
    except ServingError:
        pass


def test_the_element_cap_is_checked_before_values_are_exported():
    body = '{"inputs": [[1, 2, 3], [4, 5, 6]]}'
    limits = RequestLimits(max_tensor_elements=5)
    with pytest.raises(ServingError) as fast:
        typed(body, X, limits)
    with pytest.raises(ServingError) as slow:
        reference(body, X, limits)
    assert str(fast.value) == str(slow.value) and "more than the server allows" in str(fast.value)
    # row format: the reference path converts the first example before it refuses, so it decides
    rows = '{"instances": [[1, 2, 3], [4, 5, 6]]}'
    assert typed(rows, X, limits) is None
    with pytest.raises(ServingError, match="more than the server allows"):
        reference(rows, X, limits)


def test_a_large_tensor_makes_no_python_object_per_value():
    values = np.random.default_rng(1).standard_normal((4, 250_000)).astype(np.float32)
    body = json.dumps({"inputs": values.tolist()}).encode()
    tracemalloc.start()
    try:
        got = typed(body, X)
        _, typed_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        expected = reference(body, X)
        _, reference_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_same(got, expected)
    np.testing.assert_array_equal(got[0]["x"], values)
    print(
        f"Python heap peak for {values.nbytes >> 20} MiB of float32: typed {typed_peak >> 20} MiB, "
        f"reference {reference_peak >> 20} MiB"
    )
    # typed: the float64 export and the float32 result; the reference holds a Python float per value
    assert typed_peak < 4 * values.nbytes < 8 * values.nbytes < reference_peak
