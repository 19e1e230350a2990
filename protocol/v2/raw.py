"""A tensor as raw bytes: the form of gRPC's `raw_input_contents` / `raw_output_contents` and of the
binary data extension's chunks after the JSON header.

Values are row-major, little-endian, without padding, each in its datatype's size; BOOL is one byte
per element (0 false, anything else true); BYTES is, per element, a 4-byte little-endian unsigned
length followed by that many bytes (so one element holds at most 4 GiB - 1).

Decoding validates before it allocates: the declared shape (non-negative integer dimensions) must
need exactly the bytes given, BYTES elements must each lie inside the data and use all of it.
Fixed-size tensors are numpy views of the bytes given (read-only when those are `bytes`): no copy.
"""

from __future__ import annotations

import math
import struct
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from protocol import b64
from protocol.v2 import datatypes

LENGTH = struct.Struct("<I")  # the length before each BYTES element
MAX_ELEMENT_BYTES = (1 << 32) - 1
_LITTLE_ENDIAN = sys.byteorder == "little"

Buffer = bytes | bytearray | memoryview


def check_shape(shape: Any, what: str) -> tuple[int, ...]:
    """The shape as a tuple of non-negative ints; ValueError for anything else (floats, bools, -1)."""
    if not isinstance(shape, (list, tuple)) and not hasattr(shape, "__len__"):
        raise ValueError(f"{what}: shape must be a list of integers, got {shape!r}")
    dims = list(shape)
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise ValueError(f"{what}: shape {dims!r} must hold integers")
        if d < 0:
            raise ValueError(f"{what}: shape {dims!r} has a negative dimension")
    return tuple(int(d) for d in dims)


def element_count(shape: Sequence[int]) -> int:
    return math.prod(shape)


def byte_size(datatype: str, shape: Sequence[int]) -> int | None:
    """Bytes a fixed-size tensor of this shape takes raw; None for BYTES (it depends on the elements)."""
    size = datatypes.get(datatype).size
    return None if size is None else size * element_count(shape)


def decode(datatype: str, shape: Sequence[int], data: Buffer, what: str = "tensor") -> np.ndarray:
    """The tensor `data` holds, as numpy of the datatype's dtype (BYTES: an object array of bytes)."""
    kind = datatypes.get(datatype)
    shape = check_shape(shape, what)
    count = element_count(shape)
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    if kind.size is None:
        return decode_bytes(view, count, what).reshape(shape)
    need = kind.size * count
    if len(view) != need:
        raise ValueError(
            f"{what}: {len(view)} bytes of data, but shape {list(shape)} of {datatype} takes {need} "
            f"({count} elements of {kind.size} bytes)"
        )
    if datatype == "BOOL":
        return (np.frombuffer(view, dtype=np.uint8) != 0).reshape(shape)
    dtype = datatypes.numpy_dtype(datatype)
    if datatype == "BF16":  # ml_dtypes' bfloat16 has no byte order of its own: read the bits
        bits = np.frombuffer(view, dtype="<u2")
        return (bits if _LITTLE_ENDIAN else bits.astype(np.uint16)).view(dtype).reshape(shape)
    array = np.frombuffer(view, dtype=dtype.newbyteorder("<"))
    return (array if _LITTLE_ENDIAN else array.astype(dtype)).reshape(shape)


def encode(array: np.ndarray) -> tuple[str, Buffer]:
    """(datatype, raw bytes) of an array. Fixed-size types are a view of the array's memory when it is
    contiguous and little-endian already; BYTES elements may be bytes or str (sent as UTF-8)."""
    array = np.asarray(array)
    datatype = datatypes.of_numpy(array.dtype)
    if datatype == "BYTES":
        return datatype, encode_bytes(array.reshape(-1))
    if datatype == "BOOL":
        array = array.astype(np.uint8)
    elif datatype == "BF16":
        array = array.view(np.uint16)
    if not _LITTLE_ENDIAN or array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return datatype, memoryview(np.ascontiguousarray(array).reshape(-1)).cast("B")


def encode_bytes(elements: Sequence[bytes | str] | np.ndarray) -> bytes:
    """Each element as a 4-byte little-endian length and its bytes, one after the other."""
    parts: list[bytes] = []
    for element in elements.tolist() if isinstance(elements, np.ndarray) else elements:
        data = b64.as_bytes(element)
        if len(data) > MAX_ELEMENT_BYTES:
            raise ValueError(f"a BYTES element holds at most {MAX_ELEMENT_BYTES} bytes, this one {len(data)}")
        parts.append(LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def decode_bytes(data: Buffer, count: int, what: str = "tensor") -> np.ndarray:
    """`count` BYTES elements from `data` (which they must fill exactly), as a 1-D object array."""
    size = len(data)
    if count * LENGTH.size > size:
        raise ValueError(
            f"{what}: {size} bytes of data cannot hold {count} BYTES elements (each takes at least {LENGTH.size})"
        )
    out = np.empty(count, dtype=object)
    offset = 0
    for i in range(count):
        if offset + LENGTH.size > size:
            raise ValueError(f"{what}: the data ends before the length of BYTES element {i} ({size} bytes)")
        (length,) = LENGTH.unpack_from(data, offset)
        offset += LENGTH.size
        if offset + length > size:
            raise ValueError(f"{what}: BYTES element {i} says it holds {length} bytes, only {size - offset} follow")
        out[i] = bytes(data[offset : offset + length])
        offset += length
    if offset != size:
        raise ValueError(f"{what}: {size - offset} bytes left over after its {count} BYTES elements")
    return out
