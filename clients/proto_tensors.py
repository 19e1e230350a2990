"""numpy <-> `tensorflow.TensorProto` for the gRPC API.

Numbers travel as raw little-endian `tensor_content` (compact, and fast for multi-megabyte tensors);
strings as `string_val`. Decoding also understands the typed `*_val` fields other servers send,
including TensorFlow's "one value means fill the shape" convention.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from clients.json_tensors import as_array, as_bytes
from clients.signatures import NUMPY_DTYPES, TensorInfo

_ENUM_BY_NUMPY = {dtype: types_pb2.DataType.Value(name) for name, dtype in NUMPY_DTYPES.items()}

# Which repeated field holds the values when tensor_content is empty.
_VAL_FIELD = {
    "DT_FLOAT": "float_val",
    "DT_DOUBLE": "double_val",
    "DT_HALF": "half_val",
    "DT_INT8": "int_val",
    "DT_INT16": "int_val",
    "DT_INT32": "int_val",
    "DT_UINT8": "int_val",
    "DT_UINT16": "int_val",
    "DT_INT64": "int64_val",
    "DT_UINT32": "uint32_val",
    "DT_UINT64": "uint64_val",
    "DT_BOOL": "bool_val",
    "DT_STRING": "string_val",
}


def to_proto(value: Any, info: TensorInfo | None = None) -> tensor_pb2.TensorProto:
    """numpy/list value -> TensorProto, in the signature's dtype when known."""
    array = as_array(value, info)
    if array.dtype.kind in "SU":
        array = array.astype(object)
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in array.shape])
    if array.dtype == object:
        return tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING,
            tensor_shape=shape,
            string_val=[as_bytes(v) for v in array.reshape(-1)],
        )
    try:
        enum = _ENUM_BY_NUMPY[array.dtype]
    except KeyError:
        raise ValueError(f"numpy dtype {array.dtype} has no TensorFlow equivalent here") from None
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return tensor_pb2.TensorProto(dtype=enum, tensor_shape=shape, tensor_content=np.ascontiguousarray(little).tobytes())


def from_proto(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """TensorProto -> numpy; strings become an object array of bytes."""
    name = types_pb2.DataType.Name(proto.dtype)
    if name not in NUMPY_DTYPES:
        raise ValueError(f"cannot convert a {name} tensor to numpy")
    dtype = NUMPY_DTYPES[name]
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    count = int(np.prod(shape, dtype=np.int64))
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    values = list(getattr(proto, _VAL_FIELD[name]))
    if name == "DT_HALF":
        flat = np.asarray(values, dtype=np.uint16).view(np.float16)
    else:
        flat = np.asarray(values, dtype=dtype)
    if flat.size == count:
        return flat.reshape(shape)
    if flat.size == 0 and count == 0:
        return np.zeros(shape, dtype=dtype)
    if 0 < flat.size < count:
        # TensorFlow fills the rest of the tensor with the last value given.
        return np.concatenate([flat, np.repeat(flat[-1:], count - flat.size)]).reshape(shape)
    raise ValueError(f"{name} tensor of shape {shape} holds {flat.size} values")
