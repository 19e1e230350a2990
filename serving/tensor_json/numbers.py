"""The number rules of json_tensor.cc: which JSON numbers each dtype takes, what they become, how they are written.

Taking: a float or double input takes any JSON number, read as a double and (float) cast down, so precision
is lost silently and values past float's range become +-inf (rapidjson's GetFloat). An integer input takes
only JSON integers in its range (rapidjson's IsInt, IsUint, IsInt64, IsUint64): int8, int16 and uint8 take
any int32, stored in TensorProto.int_val and wrapped to the narrow type when the tensor is made, as
TensorFlow's C++ conversion does.

Writing: floats as WriteDecimal writes them (six significant digits when they round-trip, else full
precision; `.0` on integral values; NaN, Infinity, -Infinity); and, for the text of a value in an error
message, doubles as rapidjson's Writer::Double writes them.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

from protocol.generated.tensorflow.core.framework import types_pb2

FLOATS = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64}

_INT32 = (-(1 << 31), (1 << 31) - 1)
# dtype -> (lowest, highest) JSON integer taken, the numpy type the values end in
INTEGERS = {
    types_pb2.DT_INT8: (*_INT32, np.int8),
    types_pb2.DT_INT16: (*_INT32, np.int16),
    types_pb2.DT_INT32: (*_INT32, np.int32),
    types_pb2.DT_UINT8: (*_INT32, np.uint8),
    types_pb2.DT_INT64: (-(1 << 63), (1 << 63) - 1, np.int64),
    types_pb2.DT_UINT32: (0, (1 << 32) - 1, np.uint32),
    types_pb2.DT_UINT64: (0, (1 << 64) - 1, np.uint64),
}


def takes_integer(value: object, dtype: int) -> bool:
    """Whether a JSON value (as parsed) is an integer in the range an integer dtype takes."""
    low, high, _ = INTEGERS[dtype]
    return type(value) is int and low <= value <= high


def to_floats(values: object, dtype: int) -> np.ndarray:
    """Numbers (a list or an array) as the float dtype: through double, then cast down with overflow to inf."""
    with np.errstate(over="ignore"):
        return np.asarray(values, np.float64).astype(FLOATS[dtype], copy=False)


def to_integers(values: object, dtype: int) -> np.ndarray:
    """Integers already in the dtype's JSON range (takes_integer) as the dtype, wrapping like the C++ cast."""
    wide = np.uint64 if dtype == types_pb2.DT_UINT64 else np.int64
    return np.asarray(values, wide).astype(INTEGERS[dtype][2], copy=False)


def in_range(values: np.ndarray, dtype: int) -> bool:
    """Whether every integer of an int64 array lies in the JSON range an integer dtype takes."""
    low, high, _ = INTEGERS[dtype]
    return not values.size or (int(values.min()) >= low and int(values.max()) <= high)


# ---------------------------------------------------------------- writing


def decimal_tokens(flat: np.ndarray) -> list[str]:
    """WriteDecimal for each float32/float64 of a flat array: absl's six-digit form when it reads back to
    the same value, else max_digits10 digits; `.0` added when the text has neither '.' nor 'e'."""
    values = flat.tolist()
    tokens = [f"{v:.6g}" for v in values]
    if not tokens:
        return tokens
    finite = np.isfinite(flat)
    back = np.array(tokens, dtype=np.float64).astype(flat.dtype)
    wrong = np.nonzero(finite & (back != flat))[0]
    digits = "%.9g" if flat.dtype == np.float32 else "%.17g"
    for i in wrong.tolist():
        tokens[i] = digits % values[i]
    for i in np.nonzero(~finite)[0].tolist():
        v = values[i]
        tokens[i] = "NaN" if math.isnan(v) else ("-Infinity" if v < 0 else "Infinity")
    return [t + ".0" if ("." not in t and "e" not in t and t[-1].isdigit()) else t for t in tokens]


def decimal_text(value: float, dtype: type = np.float32) -> str:
    """WriteDecimal of one float (classification scores and regression values are float)."""
    return decimal_tokens(np.array([value], dtype=dtype))[0]


def double_text(value: float) -> str | None:
    """rapidjson's Writer::Double: the shortest digits, laid out by its Prettify (1e21 and above and 1e-7 and
    below in exponent form without '+' or padding, `.0` on integral values). None for NaN and infinities,
    which that writer refuses (the text of a value in a message stops there)."""
    if not math.isfinite(value):
        return None
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0.0"
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    k = exponent + len(digit_tuple) - len(digits)  # |value| = digits * 10^k
    kk = len(digits) + k  # 10^(kk-1) <= |value| < 10^kk
    if 0 <= k and kk <= 21:
        return sign + digits + "0" * k + ".0"
    if 0 < kk <= 21:
        return sign + digits[:kk] + "." + digits[kk:]
    if -6 < kk <= 0:
        return sign + "0." + "0" * -kk + digits
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{kk - 1}"
