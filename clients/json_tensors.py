"""numpy <-> the JSON tensors of TensorFlow Serving's REST API.

String tensors always travel as `{"b64": ...}` so arbitrary bytes (encoded images) survive JSON;
numbers are cast to the signature's dtype first, because the server rejects `1.0` for an integer
input. Numbers stay numpy arrays until `protocol.json_text.dumps` writes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clients.signatures import TensorInfo
from protocol import b64


def _map_nested(value: Any, leaf) -> Any:
    if isinstance(value, (list, tuple)):
        return [_map_nested(v, leaf) for v in value]
    return leaf(value)


def as_array(value: Any, info: TensorInfo | None) -> np.ndarray:
    """Turn user input into an array of the signature's dtype (strings stay Python bytes/str objects)."""
    if info is not None and info.dtype == "DT_STRING":
        return np.asarray(value, dtype=object)
    if info is None:
        return np.asarray(value)
    target = info.numpy_dtype
    array = np.asarray(value)
    if array.dtype.kind == "f" and target.kind in "iub":
        raise ValueError(f"input {info.name!r} is {info.dtype} but floats were given")
    return array.astype(target, copy=False)


def encode(value: Any, info: TensorInfo | None) -> Any:
    """numpy/list value -> a value `protocol.json_text.dumps` writes, for one tensor (or one row of it): numbers as a
    C-contiguous native-endian array (a scalar as a numpy scalar), strings as nested `{"b64": ...}`."""
    array = as_array(value, info)
    if array.dtype == object or array.dtype.kind in "SU":
        return _map_nested(array.tolist(), b64.encode)
    if array.ndim == 0:
        return array[()]
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))


def _decode_string(value: Any) -> bytes:
    if b64.is_b64(value):
        return b64.decode(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")  # the answer's bytes as they were (clients.http.loads)
    raise ValueError(f"expected a string tensor element, got {value!r}")


def decode(value: Any, info: TensorInfo | None) -> np.ndarray:
    """JSON tensor -> numpy. String tensors become object arrays of bytes, as over gRPC."""
    if info is not None and info.dtype == "DT_STRING":
        return np.array(_map_nested(value, _decode_string), dtype=object)
    if info is None:
        return np.asarray(value)
    return np.asarray(value, dtype=info.numpy_dtype)
