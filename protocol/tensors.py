"""numpy <-> tensorflow.TensorProto, by the rules TensorFlow's Tensor::FromProto / AsProtoField use.

Writing: numbers either as raw little-endian `tensor_content` (compact, fast for large tensors; what
the clients send) or in the typed value field of their dtype (what TensorFlow Serving answers with by
default); strings always in `string_val`. Reading understands both, and TensorFlow's convention that
a typed field holding fewer values than the shape needs is filled up with its last value (no value
at all: zeros).
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

from protocol import b64, dtypes
from protocol.generated.tensorflow.core.framework import tensor_pb2, types_pb2

TensorProto = tensor_pb2.TensorProto
_LITTLE_ENDIAN = sys.byteorder == "little"


def write(proto: TensorProto, array: np.ndarray, *, as_content: bool = False) -> None:
    """Fill an empty `proto` (e.g. `response.outputs[name]`) with `array`; ValueError for dtypes TF lacks."""
    array = np.asarray(array)
    name = dtypes.datatype_name(array.dtype)
    proto.dtype = types_pb2.DataType.Value(name)
    proto.tensor_shape.dim.extend(proto.tensor_shape.Dim(size=d) for d in array.shape)
    flat = array.reshape(-1)
    if name == "DT_STRING":
        proto.string_val.extend(b64.as_bytes(v) for v in flat.tolist())
    elif as_content:
        proto.tensor_content = np.ascontiguousarray(flat, dtype=flat.dtype.newbyteorder("<")).tobytes()
    elif name in ("DT_HALF", "DT_BFLOAT16"):
        proto.half_val.extend(flat.view(np.uint16).tolist())
    elif name in ("DT_COMPLEX64", "DT_COMPLEX128"):
        getattr(proto, dtypes.VALUE_FIELD[name]).extend(flat.view(flat.real.dtype).tolist())
    else:
        getattr(proto, dtypes.VALUE_FIELD[name]).extend(flat.tolist())


def to_proto(array: Any, *, as_content: bool = True) -> TensorProto:
    """A new TensorProto holding `array` (tensor_content for numbers unless `as_content=False`)."""
    proto = TensorProto()
    write(proto, np.asarray(array), as_content=as_content)
    return proto


def to_numpy(proto: TensorProto, *, copy: bool = True) -> np.ndarray:
    """The array a TensorProto holds; strings become an object array of bytes.

    With `copy=False`, numbers sent as tensor_content come back as a read-only view of the message's
    bytes (no copy), which is what a server wants for large inputs.
    """
    name = dtypes.name_of(proto.dtype)
    dtype = dtypes.numpy_dtype(name)
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise ValueError(f"{name} tensor has an unknown dimension in its shape {list(shape)}")
    count = int(np.prod(shape, dtype=np.int64))
    if proto.tensor_content and name != "DT_STRING":
        content = proto.tensor_content
        if len(content) != count * dtype.itemsize:
            raise ValueError(f"{name} tensor of shape {list(shape)} needs {count * dtype.itemsize} bytes of "
                             f"tensor_content, got {len(content)}")
        flat = np.frombuffer(content, dtype=dtype.newbyteorder("<"))
        if copy or not _LITTLE_ENDIAN:
            flat = flat.astype(dtype)
        return flat.reshape(shape)
    flat = _typed_values(proto, name, dtype)
    if flat.size == count:
        return flat.reshape(shape)
    if flat.size > count:
        raise ValueError(f"{name} tensor of shape {list(shape)} holds {flat.size} values")
    if flat.size == 0:
        return np.zeros(shape, dtype=dtype) if dtype != object else np.full(shape, b"", dtype=object)
    return np.concatenate([flat, np.repeat(flat[-1:], count - flat.size)]).reshape(shape)


def _typed_values(proto: TensorProto, name: str, dtype: np.dtype) -> np.ndarray:
    values = getattr(proto, dtypes.VALUE_FIELD[name])
    if name == "DT_STRING":
        flat = np.empty(len(values), dtype=object)
        flat[:] = list(values)
        return flat
    if name in ("DT_HALF", "DT_BFLOAT16"):
        return np.asarray(values, dtype=np.uint16).view(dtype)
    if name in ("DT_COMPLEX64", "DT_COMPLEX128"):
        parts = np.asarray(values, dtype=np.float32 if name == "DT_COMPLEX64" else np.float64)
        if parts.size % 2:
            raise ValueError(f"{name} tensor holds an odd number of real/imaginary parts")
        return parts.view(dtype)
    return np.asarray(values, dtype=dtype)
