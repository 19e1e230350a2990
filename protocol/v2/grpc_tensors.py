"""numpy <-> the tensors of `ModelInferRequest` / `ModelInferResponse`.

A tensor's values travel either in its `contents` (the typed field of its datatype, see
`protocol.v2.datatypes`) or as raw bytes in the message's `raw_input_contents` / `raw_output_contents`,
one entry per tensor in the order of `inputs` / `outputs`; never both in one message. FP16 and BF16
have no typed field: they travel raw only. Reading checks the datatype, the shape and that the values
number exactly what the shape says before anything is built.
"""

from __future__ import annotations

import numpy as np

from protocol.v2 import datatypes, raw
from protocol.v2.raw import check_shape, element_count

CONTENT_FIELDS = (
    "bool_contents",
    "int_contents",
    "int64_contents",
    "uint_contents",
    "uint64_contents",
    "fp32_contents",
    "fp64_contents",
    "bytes_contents",
)


def has_contents(tensor) -> bool:
    """Whether a tensor message carries any typed values."""
    return tensor.HasField("contents") and any(len(getattr(tensor.contents, f)) for f in CONTENT_FIELDS)


def read(tensor, data: bytes | None, what: str) -> np.ndarray:
    """The values of an InferInputTensor or InferOutputTensor, from `data` (its raw entry) when given,
    else from its typed contents."""
    kind = datatypes.get(tensor.datatype)
    shape = check_shape(tensor.shape, what)
    if data is not None:
        if has_contents(tensor):
            raise ValueError(f"{what}: values in both 'contents' and the raw contents; send one")
        return raw.decode(kind.name, shape, data, what)
    if kind.contents is None:
        raise ValueError(f"{what}: {kind.name} has no typed contents field; send it in the raw contents")
    for other in CONTENT_FIELDS:
        if other != kind.contents and len(getattr(tensor.contents, other)):
            raise ValueError(f"{what}: {kind.name} values belong in contents.{kind.contents}, not {other}")
    values = getattr(tensor.contents, kind.contents)
    count = element_count(shape)
    if len(values) != count:
        raise ValueError(
            f"{what}: contents.{kind.contents} holds {len(values)} values, shape {list(shape)} takes {count}"
        )
    dtype = datatypes.numpy_dtype(kind.name)
    if kind.name == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    wide = np.array(values, dtype=np.float64 if dtype.kind == "f" else np.int64 if dtype.kind == "i" else np.uint64)
    if dtype.kind in "iu" and wide.size and wide.dtype != dtype:
        info = np.iinfo(dtype)
        if wide.min() < info.min or wide.max() > info.max:
            raise ValueError(f"{what}: {kind.name} values must lie in [{info.min}, {info.max}]")
    return wide.astype(dtype).reshape(shape)


def write(tensor, array: np.ndarray, raw_contents=None) -> None:
    """Describe `array` in an empty tensor message (name set by the caller) and put its values either
    into `raw_contents` (the message's repeated raw field: appended) or, when that is None, into the
    typed contents; ValueError for FP16 / BF16 without raw contents."""
    array = np.asarray(array)
    datatype = datatypes.of_numpy(array.dtype)
    tensor.datatype = datatype
    tensor.shape.extend(array.shape)
    if raw_contents is not None:
        raw_contents.append(bytes(raw.encode(array)[1]))
        return
    field = datatypes.get(datatype).contents
    if field is None:
        raise ValueError(f"{datatype} has no typed contents field; it must be sent raw")
    flat = array.reshape(-1)
    target = getattr(tensor.contents, field)
    if datatype == "BYTES":
        target.extend(v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in flat.tolist())
    else:
        target.extend(flat.tolist())
    tensor.contents.SetInParent()
