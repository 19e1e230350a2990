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
    """Decodes a request tensor; tensor_content is read with one copy."""
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError) as e:
        raise invalid_argument(f"tensor parsing error: {e}") from None


def _shape(array: np.ndarray) -> tensor_shape_pb2.TensorShapeProto:
    return tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in array.shape])


def from_ndarray(array: np.ndarray, dtype: tf.DType, as_content: bool = False) -> tensor_pb2.TensorProto:
    """Encodes a response tensor in the typed value fields (or tensor_content when asked)."""
    proto = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum, tensor_shape=_shape(array))
    if dtype == tf.string:
        proto.string_val.extend(array.reshape(-1).tolist())
        return proto
    if as_content:
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
        return proto
    field = _FIELD.get(array.dtype)
    if field is not None:
        getattr(proto, field).extend(array.reshape(-1).tolist())
    elif dtype in (tf.float16, tf.bfloat16):
        proto.half_val.extend(array.reshape(-1).view(np.uint16).tolist())
    else:
        return tf.make_tensor_proto(array, dtype=dtype)
    return proto


def type_name(enum: int) -> str:
    return types_pb2.DataType.Name(enum)[3:].lower()
