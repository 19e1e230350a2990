"""serving.tensor_json.numbers: which JSON numbers each dtype takes and what they become (json_tensor_test.cc's
FloatTensorWithPrecisionLoss, FloatTensorThatExceedsMaxReturnsInf, FloatTensorThatExceedsMinReturnsZero, and
TensorFlow's int_val conversion), through every request path; how floats are written."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from protocol.generated.tensorflow.core.framework import types_pb2 as T
from serving.tensor_json.numbers import decimal_text, decimal_tokens, double_text
from tests.serving.tensor_json.codec import error, request, same

DBL_MAX, DBL_MIN = sys.float_info.max, sys.float_info.min


def _all_layouts(literal: str) -> list[str]:
    """The number alone in each layout the paths treat apart: rows, columns, among ints, among floats."""
    return [
        f'{{"instances": [{literal}]}}',
        f'{{"inputs": [[{literal}, 1]]}}',
        f'{{"inputs": [[{literal}, 0.5]]}}',
        f'{{"inputs": [[{literal}, true]]}}',  # a bool keeps the numpy path off: value by value
    ]


@pytest.mark.parametrize(
    "literal, dtype, expected",
    [
        ("1435774380", T.DT_FLOAT, 1435774336.0),  # precision is lost, silently, int or float literal alike
        ("1435774380.0", T.DT_FLOAT, 1435774336.0),
        ("16777217", T.DT_FLOAT, 16777216.0),
        ("9007199254740993", T.DT_DOUBLE, 9007199254740992.0),
        (repr(DBL_MAX), T.DT_FLOAT, np.inf),  # past float's range: infinity
        (repr(-DBL_MAX), T.DT_FLOAT, -np.inf),
        (repr(DBL_MIN), T.DT_FLOAT, 0.0),  # below float's smallest: zero
        (repr(-DBL_MIN), T.DT_FLOAT, -0.0),
        (repr(DBL_MAX), T.DT_DOUBLE, DBL_MAX),
        ("18446744073709551616", T.DT_FLOAT, 2.0**64),  # past 64 bits an integer is a double
    ],
)
def test_any_number_is_taken_by_a_float_input(literal, dtype, expected):
    for body in _all_layouts(literal):
        if "true" in body:
            assert "is not of expected type" in error(body, {"x": dtype}).message  # the bool, not the number
            continue
        arrays, _ = request(body, {"x": dtype}, checked=False)
        value = arrays["x"].reshape(-1)[0]
        assert value == expected and np.signbit(value) == np.signbit(expected), body
        arrays, _ = request(body, {"x": dtype})
        assert arrays["x"].reshape(-1)[0] == expected


def test_float_rounding_goes_through_double():
    # rapidjson's GetFloat is (float) GetDouble(): 2^60 + 2^36 + 1 is the double 2^60 + 2^36, halfway between
    # two floats, which ties to the even 2^60; rounded straight to float it would be 2^60 + 2^37.
    value = (1 << 60) + (1 << 36) + 1
    for checked in (True, False):
        arrays, _ = request(f'{{"inputs": [{value}, 1]}}', {"x": T.DT_FLOAT}, checked)
        same(arrays["x"], [2.0**60, 1.0], np.float32)


@pytest.mark.parametrize(
    "literal, dtype, expected",
    [
        ("300", T.DT_INT8, 44),  # int8, int16 and uint8 take any int32 and wrap, as TensorFlow's int_val copy
        ("-1", T.DT_UINT8, 255),
        ("70000", T.DT_INT16, 4464),
        ("2147483647", T.DT_INT32, 2147483647),
        ("4294967295", T.DT_UINT32, 4294967295),
        ("-9223372036854775808", T.DT_INT64, -(1 << 63)),
        ("18446744073709551615", T.DT_UINT64, (1 << 64) - 1),
    ],
)
def test_integers_in_the_json_range_of_their_dtype(literal, dtype, expected):
    for body in (f'{{"inputs": [{literal}, 1]}}', f'{{"instances": [{literal}, 1]}}', f'{{"inputs": [{literal}, 1]}} '):
        for checked in (True, False):
            arrays, _ = request(body, {"x": dtype}, checked)
            assert arrays["x"][0] == expected


@pytest.mark.parametrize(
    "literal, dtype",
    [
        ("2147483648", T.DT_INT8),  # past int32: not IsInt
        ("2147483648", T.DT_INT32),
        ("-1", T.DT_UINT32),
        ("4294967296", T.DT_UINT32),
        ("9223372036854775808", T.DT_INT64),
        ("-1", T.DT_UINT64),
        ("18446744073709551616", T.DT_UINT64),  # past 64 bits: a double
        ("1.0", T.DT_INT32),  # a float literal is never an integer
        ("1e2", T.DT_INT64),
    ],
)
def test_integers_out_of_range_or_written_as_floats_are_type_errors(literal, dtype):
    for checked in (True, False):
        err = error(f'{{"inputs": [{literal}, 1]}}', {"x": dtype}, checked)
        assert "is not of expected type" in err.message


def test_decimal_tokens():
    values = np.array([9000000, 999999, 0.5, 0.0003, 0.00003, 555557.5, 0.1, 16777217], np.float32)
    assert decimal_tokens(values) == ["9e+06", "999999.0", "0.5", "0.0003", "3e-05", "555557.5", "0.1", "16777216.0"]
    assert decimal_tokens(np.array([1 / 3, np.nan, np.inf, -np.inf, 3], np.float32)) == [
        "0.333333343",  # six digits do not read back: max_digits10
        "NaN",
        "Infinity",
        "-Infinity",
        "3.0",
    ]
    assert decimal_tokens(np.array([0.1, 1 / 3], np.float64)) == ["0.1", "0.33333333333333331"]
    assert decimal_text(0.2) == "0.2" and decimal_text(1.0) == "1.0"


@pytest.mark.parametrize(
    "value, text",
    [
        (1.0, "1.0"),
        (-0.0, "-0.0"),
        (123.5, "123.5"),
        (1e16, "10000000000000000.0"),
        (1e21, "1e21"),
        (1.7976931348623157e308, "1.7976931348623157e308"),
        (1e-5, "0.00001"),
        (1e-7, "1e-7"),
        (-2.5e-8, "-2.5e-8"),
        (float("nan"), None),
        (float("inf"), None),
    ],
)
def test_double_text_is_rapidjsons(value, text):
    assert double_text(value) == text
