"""v2 datatypes <-> TensorFlow DataTypes: the one table both sides read.

A v2 tensor's `datatype` names its element type ("FP32", "BYTES"); the served model is a TensorFlow
SavedModel whose signatures name theirs as DataType enums ("DT_FLOAT", "DT_STRING"). Each v2 datatype
is exactly one DataType and back, so a request's tensor reaches the graph as the type the signature
declares and an answer says the type the graph produced. numpy dtypes come from `protocol.dtypes`
(through the DataType), so there is one numpy table, not two.

TensorFlow types with no v2 datatype (complex numbers, resources, variants, quantized types) cannot
cross this protocol: `of_tf` raises ValueError for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocol import dtypes


@dataclass(frozen=True)
class Datatype:
    name: str  # the v2 name: "FP32"
    tf: str  # the DataType enum name: "DT_FLOAT"
    size: int | None  # bytes per element on the wire; None for BYTES (4-byte length + bytes each)
    contents: str | None  # the InferTensorContents field of gRPC's typed form; None: raw bytes only


DATATYPES: dict[str, Datatype] = {
    d.name: d
    for d in (
        Datatype("BOOL", "DT_BOOL", 1, "bool_contents"),
        Datatype("UINT8", "DT_UINT8", 1, "uint_contents"),
        Datatype("UINT16", "DT_UINT16", 2, "uint_contents"),
        Datatype("UINT32", "DT_UINT32", 4, "uint_contents"),
        Datatype("UINT64", "DT_UINT64", 8, "uint64_contents"),
        Datatype("INT8", "DT_INT8", 1, "int_contents"),
        Datatype("INT16", "DT_INT16", 2, "int_contents"),
        Datatype("INT32", "DT_INT32", 4, "int_contents"),
        Datatype("INT64", "DT_INT64", 8, "int64_contents"),
        Datatype("FP16", "DT_HALF", 2, None),
        Datatype("BF16", "DT_BFLOAT16", 2, None),
        Datatype("FP32", "DT_FLOAT", 4, "fp32_contents"),
        Datatype("FP64", "DT_DOUBLE", 8, "fp64_contents"),
        Datatype("BYTES", "DT_STRING", None, "bytes_contents"),
    )
}
_BY_TF = {d.tf: d for d in DATATYPES.values()}


def get(name: str) -> Datatype:
    """The datatype called `name`; ValueError naming the known ones otherwise."""
    try:
        return DATATYPES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown datatype {name!r}: expected one of {', '.join(DATATYPES)}") from None


def of_tf(tf_name: str) -> str:
    """The v2 datatype of a DataType name ("DT_FLOAT" -> "FP32"); ValueError when v2 has none."""
    try:
        return _BY_TF[tf_name].name
    except KeyError:
        raise ValueError(f"{tf_name} has no Open Inference Protocol datatype") from None


def to_tf(name: str) -> str:
    """The DataType name of a v2 datatype ("BYTES" -> "DT_STRING")."""
    return get(name).tf


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype that holds a v2 datatype's values (object for BYTES; BF16 needs ml_dtypes)."""
    return dtypes.numpy_dtype(to_tf(name))


def of_numpy(dtype: np.dtype) -> str:
    """The v2 datatype of a numpy dtype (bytes, str and object arrays are BYTES)."""
    return of_tf(dtypes.datatype_name(np.dtype(dtype)))
