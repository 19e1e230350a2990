"""numpy <-> the JSON tensors of TensorFlow Serving's REST API.

String tensors always travel as `{"b64": ...}` so arbitrary bytes (encoded images) survive JSON;
numbers are cast to the signature's dtype first, because the server rejects `1.0` for an integer
input. Numbers stay numpy arrays until orjson writes them (`dumps`): a B0 image is 150,528 floats,
74 ms through `json.dumps(array.tolist())` and about 3 through orjson.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

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
    """numpy/list value -> a value `dumps` writes, for one tensor (or one row of it): numbers as a
    C-contiguous native-endian array (a scalar as a numpy scalar), strings as nested `{"b64": ...}`."""
    array = as_array(value, info)
    if array.dtype == object or array.dtype.kind in "SU":
        return _map_nested(array.tolist(), b64.encode)
    if array.ndim == 0:
        return array[()]
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))


def dumps(body: Any) -> bytes:
    """A request body as JSON bytes, numpy arrays written by orjson without Python lists.

    orjson writes NaN and infinities as null, which the server would refuse for a float tensor; a body
    holding them is written by the standard library instead, as the literals TF Serving reads.
    """
    if _finite(body):
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(body, default=_plain).encode()


def _finite(value: Any) -> bool:
    if isinstance(value, (np.ndarray, np.generic)):
        return value.dtype.kind != "f" or bool(np.isfinite(value).all())
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return True


def _plain(value: Any) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


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
