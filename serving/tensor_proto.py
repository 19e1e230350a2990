"""TensorProto <-> numpy without needless copies, writing outputs like Tensor::AsProtoField."""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from serving.status import invalid_argument

_FIELD = {
    np.dtype(np.float32): "float_val", np.dtype(np.float64): "double_val",
    np.dtype(np.int32): "int_val", np.dtype(np.int16): "int_val", np.dtype(np.int8): "int_val",
    np.dtype(np.uint8): "int_val", np.dtype(np.uint16): "int_val",
    np.dtype(np.int64): "int64_val", np.dtype(np.bool_): "bool_val",
    np.dtype(np.uint32): "uint32_val", np.dtype(np.uint64): "uint64_val",
}


def to_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """Decodes a request tensor; tensor_content becomes a read-only view of the request bytes (no copy)."""
    try:
        content = proto.tensor_content
        if content and proto.dtype != types_pb2.DT_STRING:
            dtype = tf.as_dtype(proto.dtype).as_numpy_dtype
            return np.frombuffer(content, dtype=dtype).reshape([d.size for d in proto.tensor_shape.dim])
        return tf.make_ndarray(proto)
    except (TypeError, ValueError) as e:
        raise invalid_argument(f"tensor parsing error: {e}") from None


def write_ndarray(proto: tensor_pb2.TensorProto, array: np.ndarray, as_content: bool = False) -> None:
    """Encodes a response tensor into `proto` in the typed value fields (or tensor_content when asked)."""
    dtype = tf.string if array.dtype.kind in "OSU" else tf.as_dtype(array.dtype)
    proto.dtype = dtype.as_datatype_enum
    proto.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in array.shape)
    if dtype == tf.string:
        proto.string_val.extend(array.reshape(-1).tolist())
    elif as_content:
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    elif array.dtype in _FIELD:
        getattr(proto, _FIELD[array.dtype]).extend(array.reshape(-1).tolist())
    elif dtype in (tf.float16, tf.bfloat16):
        proto.half_val.extend(array.reshape(-1).view(np.uint16).tolist())
    else:
        proto.CopyFrom(tf.make_tensor_proto(array, dtype=dtype))


def type_name(enum: int) -> str:
    return types_pb2.DataType.Name(enum)[3:].lower()
