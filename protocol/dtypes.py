"""DataType <-> numpy, and which TensorProto field carries the values of each type.

Types are keyed by their enum name ("DT_FLOAT"), which is also how metadata JSON spells them.
bfloat16 needs the `ml_dtypes` package (TensorFlow brings it; a client without it cannot hold one).
"""

from __future__ import annotations

import numpy as np

from protocol.generated.tensorflow.core.framework import types_pb2

NUMPY_DTYPES: dict[str, np.dtype] = {
    "DT_FLOAT": np.dtype(np.float32),
    "DT_DOUBLE": np.dtype(np.float64),
    "DT_HALF": np.dtype(np.float16),
    "DT_INT8": np.dtype(np.int8),
    "DT_INT16": np.dtype(np.int16),
    "DT_INT32": np.dtype(np.int32),
    "DT_INT64": np.dtype(np.int64),
    "DT_UINT8": np.dtype(np.uint8),
    "DT_UINT16": np.dtype(np.uint16),
    "DT_UINT32": np.dtype(np.uint32),
    "DT_UINT64": np.dtype(np.uint64),
    "DT_BOOL": np.dtype(np.bool_),
    "DT_COMPLEX64": np.dtype(np.complex64),
    "DT_COMPLEX128": np.dtype(np.complex128),
    "DT_STRING": np.dtype(object),
}

# The repeated field that holds a tensor's values when tensor_content is empty.
VALUE_FIELD: dict[str, str] = {
    "DT_FLOAT": "float_val",
    "DT_DOUBLE": "double_val",
    "DT_HALF": "half_val",
    "DT_BFLOAT16": "half_val",
    "DT_INT8": "int_val",
    "DT_INT16": "int_val",
    "DT_INT32": "int_val",
    "DT_UINT8": "int_val",
    "DT_UINT16": "int_val",
    "DT_INT64": "int64_val",
    "DT_UINT32": "uint32_val",
    "DT_UINT64": "uint64_val",
    "DT_BOOL": "bool_val",
    "DT_COMPLEX64": "scomplex_val",
    "DT_COMPLEX128": "dcomplex_val",
    "DT_STRING": "string_val",
}

_NAME_BY_NUMPY = {dtype: name for name, dtype in NUMPY_DTYPES.items()}


def name_of(enum: int) -> str:
    """DT_FLOAT for 1; DT_INVALID for a number the enum does not have."""
    try:
        return types_pb2.DataType.Name(enum)
    except ValueError:
        return "DT_INVALID"


def type_name(enum: int) -> str:
    """TensorFlow's DataTypeString, as error messages use it: 'float' for DT_FLOAT."""
    return name_of(enum)[3:].lower()


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype of a DataType name; ValueError for types numpy cannot hold."""
    if name in NUMPY_DTYPES:
        return NUMPY_DTYPES[name]
    if name == "DT_BFLOAT16":
        try:
            import ml_dtypes
        except ImportError:
            raise ValueError("a DT_BFLOAT16 tensor needs the ml_dtypes package") from None
        return np.dtype(ml_dtypes.bfloat16)
    raise ValueError(f"cannot convert a {name} tensor to numpy")


def datatype_name(dtype: np.dtype) -> str:
    """The DataType name of a numpy dtype; bytes, str and object arrays are DT_STRING."""
    name = _NAME_BY_NUMPY.get(dtype)  # the common case first: numpy's dtype.name is slow (every tensor asks)
    if name is not None:
        return name
    if dtype.kind in "OSU":
        return "DT_STRING"
    if dtype.kind == "V" and dtype.name == "bfloat16":
        return "DT_BFLOAT16"
    try:
        return _NAME_BY_NUMPY[dtype.newbyteorder("=")]
    except KeyError:
        raise ValueError(f"numpy dtype {dtype} has no TensorFlow equivalent") from None
