"""numpy <-> tensorflow.TensorProto, by the rules TensorFlow's Tensor::FromProto / AsProtoField use.

Writing: numbers either as raw little-endian `tensor_content` (compact, fast for large tensors; what
the clients send) or in the typed value field of their dtype (what TensorFlow Serving answers with by
default); strings always in `string_val`. Reading understands both, and TensorFlow's convention that
a typed field holding fewer values than the shape needs is filled up with its last value (no value
at all: zeros).

Reading validates before it allocates: a known rank, no negative dimension, an element count that
fits in int64 and a declared size no larger than one message can carry; a short typed field is
filled up only within a byte budget (TensorFlow fills any size, so a 20-byte message could
otherwise cost gigabytes): `fill_bytes` says what a fill would cost before anything is built.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from protocol import b64, dtypes
from protocol.generated.tensorflow.core.framework import tensor_pb2, types_pb2
from protocol.limits import MAX_EXPANSION_BYTES, MAX_MESSAGE_BYTES

TensorProto = tensor_pb2.TensorProto
_LITTLE_ENDIAN = sys.byteorder == "little"
MAX_FILL_BYTES = MAX_EXPANSION_BYTES  # largest tensor a short typed field may be filled up to, by default
_OBJECT_BYTES = 8  # a string element costs at least one pointer
_TSTRING_BYTES = 24  # and TensorFlow's own copy of it (tstring) as much again and more, plus its bytes


def write(proto: TensorProto, array: np.ndarray, *, as_content: bool = False) -> None:
    """Fill an empty `proto` (e.g. `response.outputs[name]`) with `array`; ValueError for dtypes TF lacks.

    Typed value fields are written as one packed field parsed from bytes numpy encodes, never through
    a Python list (a list of floats costs ~8x the tensor and a 1 GB output would take 16 GB).
    """
    array = np.asarray(array)
    name = dtypes.datatype_name(array.dtype)
    proto.dtype = types_pb2.DataType.Value(name)
    proto.tensor_shape.dim.extend(proto.tensor_shape.Dim(size=d) for d in array.shape)
    flat = array.reshape(-1)
    if name == "DT_STRING":
        proto.string_val.extend(b64.as_bytes(v) for v in flat.tolist())
    elif as_content:
        proto.tensor_content = np.ascontiguousarray(flat, dtype=flat.dtype.newbyteorder("<")).tobytes()
    elif flat.size:
        field = TensorProto.DESCRIPTOR.fields_by_name[dtypes.VALUE_FIELD[name]]
        payload = _packed_payload(name, flat)
        proto.MergeFromString(b"".join([_varint((field.number << 3) | 2), _varint(len(payload)), payload]))


_RAW = {"DT_FLOAT", "DT_DOUBLE", "DT_COMPLEX64", "DT_COMPLEX128"}  # fixed32 / fixed64 on the wire


def _packed_payload(name: str, flat: np.ndarray) -> memoryview | bytes:
    """The body of a packed repeated field holding `flat` in the typed field of `name`."""
    if name in _RAW:
        return memoryview(np.ascontiguousarray(flat, dtype=flat.dtype.newbyteorder("<"))).cast("B")
    if name in ("DT_HALF", "DT_BFLOAT16"):
        return _varints(flat.view(np.uint16).astype(np.uint64))
    if name == "DT_BOOL":
        return flat.astype(np.uint8).tobytes()
    if flat.dtype.kind == "i":  # int32/int64 fields: negative numbers as 64-bit two's complement
        return _varints(flat.astype(np.int64).view(np.uint64))
    return _varints(flat.astype(np.uint64))


def _varints(values: np.ndarray) -> bytes:
    """Protobuf base-128 varints of uint64 values: 7 bits a byte, high bit = more follows. Vectorised in
    chunks; a few values (a top-5's class ids, a field's tag) one by one, where numpy's per-call cost is
    most of the time (it was ~0.35 ms of every gRPC Predict answer)."""
    if values.size <= _SCALAR_VARINTS:
        return b"".join(_varint(value) for value in values.tolist())
    return b"".join(_varint_chunk(values[i : i + _VARINT_CHUNK]) for i in range(0, values.size, _VARINT_CHUNK))


_VARINT_CHUNK = 1 << 20
_SCALAR_VARINTS = 64  # up to this many values, one at a time in Python is faster than numpy


def _varint_chunk(values: np.ndarray) -> bytes:
    lengths = np.ones(values.size, dtype=np.uint8)
    for shift in range(7, 64, 7):
        lengths += values >= (np.uint64(1) << np.uint64(shift))
    width = int(lengths.max(initial=1))
    groups = np.empty((values.size, width), dtype=np.uint8)
    for k in range(width):
        low = ((values >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        groups[:, k] = low | ((lengths > k + 1).astype(np.uint8) << 7)
    return groups[np.arange(width) < lengths[:, None]].tobytes()


def _varint(value: int) -> bytes:
    """One varint of a non-negative int below 2**64."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def to_proto(array: Any, *, as_content: bool = True) -> TensorProto:
    """A new TensorProto holding `array` (tensor_content for numbers unless `as_content=False`)."""
    proto = TensorProto()
    write(proto, np.asarray(array), as_content=as_content)
    return proto


def shape_of(proto: TensorProto) -> tuple[int, ...]:
    """The shape a TensorProto declares, validated: known rank, sizes >= 0, an int64 element count."""
    if proto.tensor_shape.unknown_rank:
        raise ValueError(f"{dtypes.name_of(proto.dtype)} tensor has an unknown rank; a request tensor needs a shape")
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise ValueError(f"{dtypes.name_of(proto.dtype)} tensor has a negative dimension in its shape {list(shape)}")
    if element_count(shape) >= 1 << 63:
        raise ValueError(
            f"{dtypes.name_of(proto.dtype)} tensor shape {list(shape)} has more elements than int64 can count"
        )
    return shape


def element_count(shape: tuple[int, ...]) -> int:
    """The number of elements of a shape, as an exact Python int (numpy's product would overflow)."""
    count = 1
    for d in shape:
        count *= d
    return count


def fill_bytes(proto: TensorProto) -> int:
    """What `to_numpy` would build for a typed field shorter than its shape: 0 when the proto carries every
    value (or none is needed); else the whole filled array, and for strings TensorFlow's copy of each
    repeated element too (numpy repeats one object, TensorFlow copies its bytes into every element).
    Nothing is allocated; a malformed tensor is the ValueError `to_numpy` would raise."""
    name, dtype, _, count = _declared(proto)
    if proto.tensor_content:
        return 0
    sent = len(getattr(proto, dtypes.VALUE_FIELD[name]))
    if name in ("DT_COMPLEX64", "DT_COMPLEX128"):
        sent //= 2
    if sent >= count:
        return 0
    if dtype.kind != "O":
        return count * dtype.itemsize
    last = len(proto.string_val[-1]) if sent else 0
    return count * (_OBJECT_BYTES + _TSTRING_BYTES) + (count - sent) * last


def _declared(proto: TensorProto) -> tuple[str, np.dtype, tuple[int, ...], int]:
    """(dtype name, numpy dtype, shape, element count) of a tensor whose declared size one message can carry."""
    name = dtypes.name_of(proto.dtype)
    dtype = dtypes.numpy_dtype(name)
    shape = shape_of(proto)
    count = element_count(shape)
    itemsize = _OBJECT_BYTES if dtype.kind == "O" else dtype.itemsize
    if count * itemsize > MAX_MESSAGE_BYTES:
        raise ValueError(
            f"{name} tensor of shape {list(shape)} declares {count * itemsize} bytes, more than one "
            f"message can carry ({MAX_MESSAGE_BYTES})"
        )
    return name, dtype, shape, count


def to_numpy(proto: TensorProto, *, copy: bool = True, max_fill_bytes: int = MAX_FILL_BYTES) -> np.ndarray:
    """The array a TensorProto holds; strings become an object array of bytes.

    With `copy=False`, numbers sent as tensor_content come back as a read-only view of the message's
    bytes (no copy), which is what a server wants for large inputs. A typed field shorter than the
    shape is filled up only while `fill_bytes` stays within `max_fill_bytes`. Every malformed tensor is
    a ValueError whose message says what is wrong.
    """
    name, dtype, shape, count = _declared(proto)
    if proto.tensor_content:
        if name == "DT_STRING":
            raise ValueError("DT_STRING tensor in tensor_content is not supported; send its elements in string_val")
        content = proto.tensor_content
        if len(content) != count * dtype.itemsize:
            raise ValueError(
                f"{name} tensor of shape {list(shape)} needs {count * dtype.itemsize} bytes of "
                f"tensor_content, got {len(content)}"
            )
        flat = np.frombuffer(content, dtype=dtype.newbyteorder("<"))
        if copy or not _LITTLE_ENDIAN:
            flat = flat.astype(dtype)
        return flat.reshape(shape)
    flat = _typed_values(proto, name, dtype)
    if flat.size == count:
        return flat.reshape(shape)
    if flat.size > count:
        raise ValueError(f"{name} tensor of shape {list(shape)} needs {count} values, got {flat.size}")
    cost = fill_bytes(proto)
    if cost > max_fill_bytes:
        raise ValueError(
            f"{name} tensor of shape {list(shape)} sends {flat.size} of its {count} values; filling "
            f"up the rest would take {cost} bytes, more than {max_fill_bytes}: send every value"
        )
    if flat.size == 0:
        return np.full(shape, b"", dtype=object) if dtype.kind == "O" else np.zeros(shape, dtype=dtype)
    filled = np.empty(count, dtype=dtype)  # one array, no temporary of the repeated part
    filled[: flat.size] = flat
    filled[flat.size :] = flat[-1]
    return filled.reshape(shape)


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
