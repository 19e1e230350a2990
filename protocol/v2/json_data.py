"""Tensors as the JSON `data` of a v2 request or response, and the rules each datatype's values follow.

`data` holds the elements in row-major order, flat (`[1, 2, 3, 4]`) or nested as the shape is
(`[[1, 2], [3, 4]]`); nested lists must be regular (every list at one depth of the same length), and
either way the elements must number exactly what the shape says.

    BOOL            true / false only
    INT*, UINT*     integers only (not 1.0, not true), within the type's range
    FP16, BF16, FP32, FP64   any number (integers too); JSON has no NaN: answers write non-finite
                    values as the literals NaN, Infinity, -Infinity (Triton and TF Serving do too)
    BYTES           strings, taken as their UTF-8 bytes; bytes that are not UTF-8 need binary data

Decoding reads what a JSON parser already built, type-checking the elements as one pass over them.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np

from protocol.v2 import datatypes
from protocol.v2.raw import check_shape, element_count

_INTEGER = frozenset({int})
_NUMBER = frozenset({int, float})


def flatten(data: Any, what: str) -> tuple[list[Any], frozenset[type]]:
    """(elements in row-major order, the set of their Python types) of a JSON `data` value."""
    if not isinstance(data, list):
        raise ValueError(f"{what}: 'data' must be a list, got {type(data).__name__}")
    items = data
    while True:
        kinds = frozenset(map(type, items))
        if list not in kinds:
            return items, kinds
        if kinds != {list}:
            raise ValueError(f"{what}: 'data' mixes lists and values at one depth")
        if len(set(map(len, items))) > 1:
            raise ValueError(f"{what}: 'data' has lists of different lengths at one depth")
        items = list(chain.from_iterable(items))


def decode(datatype: str, shape: Sequence[int], data: Any, what: str = "tensor") -> np.ndarray:
    """The tensor a JSON `data` value holds, as numpy of the datatype's dtype (BYTES: object of bytes)."""
    datatypes.get(datatype)
    shape = check_shape(shape, what)
    items, kinds = flatten(data, what)
    count = element_count(shape)
    if len(items) != count:
        raise ValueError(f"{what}: 'data' holds {len(items)} elements, shape {list(shape)} takes {count}")
    if datatype == "BYTES":
        if not kinds <= {str}:
            raise ValueError(f"{what}: BYTES data must be strings (send other bytes as binary data)")
        return np.array([s.encode("utf-8") for s in items] or [], dtype=object).reshape(shape)
    if datatype == "BOOL":
        if not kinds <= {bool}:
            raise ValueError(f"{what}: BOOL data must be true or false")
        return np.array(items, dtype=np.bool_).reshape(shape)
    dtype = datatypes.numpy_dtype(datatype)
    if dtype.kind in "iu":
        if not kinds <= _INTEGER:
            raise ValueError(f"{what}: {datatype} data must be integers, got {_names(kinds - _INTEGER)}")
        try:
            return np.array(items, dtype=dtype).reshape(shape)
        except OverflowError:
            info = np.iinfo(dtype)
            raise ValueError(f"{what}: {datatype} data must lie in [{info.min}, {info.max}]") from None
    if not kinds <= _NUMBER:
        raise ValueError(f"{what}: {datatype} data must be numbers, got {_names(kinds - _NUMBER)}")
    try:
        return np.array(items, dtype=np.float64).astype(dtype).reshape(shape)
    except OverflowError:
        raise ValueError(f"{what}: {datatype} data holds an integer too large for a float") from None


def _names(kinds: frozenset[type]) -> str:
    names = {bool: "booleans", str: "strings", float: "floats", dict: "objects", type(None): "null"}
    return ", ".join(sorted(names.get(k, k.__name__) for k in kinds))


def encode(array: np.ndarray, what: str = "tensor") -> tuple[str, list[int], np.ndarray | list[str]]:
    """(datatype, shape, flat data) of an array for a JSON tensor. Numbers stay a flat numpy array (a
    writer that knows numpy, such as orjson, writes it without Python objects); BYTES become strings,
    ValueError when an element is not UTF-8."""
    array = np.asarray(array)
    datatype = datatypes.of_numpy(array.dtype)
    flat = array.reshape(-1)
    if datatype != "BYTES":
        if datatype in ("FP16", "BF16"):
            flat = flat.astype(np.float32)
        return datatype, list(array.shape), np.ascontiguousarray(flat)
    try:
        return datatype, list(array.shape), [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in flat]
    except UnicodeDecodeError:
        raise ValueError(f"{what}: BYTES elements that are not UTF-8 cannot be written as JSON") from None


def is_utf8(array: np.ndarray) -> bool:
    """Whether every element of a BYTES array is valid UTF-8 (so it can be written as JSON)."""
    try:
        for v in array.reshape(-1).tolist():
            if isinstance(v, bytes):
                v.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
