"""The number rules of json_tensor.cc: which JSON numbers each dtype takes, and how floats are written."""

from __future__ import annotations

import math

import numpy as np

from protocol.generated.tensorflow.core.framework import types_pb2

INT_RANGES = {
    types_pb2.DT_INT8: (-(1 << 31), (1 << 31) - 1, np.int8),
    types_pb2.DT_INT16: (-(1 << 31), (1 << 31) - 1, np.int16),
    types_pb2.DT_INT32: (-(1 << 31), (1 << 31) - 1, np.int32),
    types_pb2.DT_UINT8: (-(1 << 31), (1 << 31) - 1, np.uint8),
    types_pb2.DT_INT64: (-(1 << 63), (1 << 63) - 1, np.int64),
    types_pb2.DT_UINT32: (0, (1 << 32) - 1, np.uint32),
    types_pb2.DT_UINT64: (0, (1 << 64) - 1, np.uint64),
}
FLOATS = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64}
# Integers a float type holds exactly (rapidjson's IsLosslessFloat / IsLosslessDouble), and float's range.
EXACT_INTEGERS = {types_pb2.DT_FLOAT: 1 << 24, types_pb2.DT_DOUBLE: 1 << 53}
FLOAT_MAX = float(np.finfo(np.float32).max)


def is_lossless(value: float | int, dtype: int) -> bool:
    """json_tensor.cc's precision rule: an integer must be exact in the float type, a float within its range."""
    if type(value) is int:
        return abs(value) <= EXACT_INTEGERS[dtype] or _round_trip(value, dtype) == value
    return dtype != types_pb2.DT_FLOAT or not math.isfinite(value) or abs(value) <= FLOAT_MAX


def _round_trip(value: int, dtype: int) -> float:
    """An integer through the float type and back (NaN when it does not fit at all)."""
    try:
        return int(FLOATS[dtype](value))
    except (OverflowError, ValueError):
        return math.nan


def fast_lossless(array: np.ndarray, dtype: int) -> bool:
    """True when no element can break the precision rule; else the per-value path decides (and explains)."""
    if not array.size:
        return True
    exact = EXACT_INTEGERS[dtype]
    if array.dtype.kind == "i":
        return int(np.abs(array).max()) <= exact
    finite = array[np.isfinite(array)]
    if dtype == types_pb2.DT_FLOAT and finite.size and np.abs(finite).max() > FLOAT_MAX:
        return False
    # an integral value this large may have been an integer literal: let the exact check see it
    return not np.any((np.abs(finite) >= exact) & (finite == np.round(finite)))


def float_tokens(flat: np.ndarray) -> list[str]:
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
