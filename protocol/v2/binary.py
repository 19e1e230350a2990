"""The binary tensor data extension of the HTTP API (Triton's `binary_tensor_data`, which KServe's
clients speak too): an inference request or response body is its JSON object followed by the raw
bytes (`protocol.v2.raw`) of some of its tensors, one after the other in the order the JSON lists them.

- `Inference-Header-Content-Length` gives the JSON's length; without it the whole body is JSON.
- A tensor whose bytes follow says how many in its `binary_data_size` parameter (and has no `data`).
- A requested output with `"binary_data": true`, or every output when the request's parameters hold
  `"binary_data_output": true` (and the output does not say false), is answered that way.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.numbers import simple_atoi
from protocol.v2.raw import Buffer

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_CONTENT_TYPE = "application/octet-stream"  # a body with tensors after the JSON
JSON_CONTENT_TYPE = "application/json"


def header_length(value: str | None, body_size: int) -> int | None:
    """The JSON header's length from the header field (None when absent: the body is all JSON)."""
    if value is None:
        return None
    length = simple_atoi(value)
    if length is None or length < 0:
        raise ValueError(f"{HEADER_LENGTH} must be a non-negative integer, got {value!r}")
    if length > body_size:
        raise ValueError(f"{HEADER_LENGTH} is {length}, longer than the {body_size}-byte body")
    return length


def split(body: Buffer, length: int | None) -> tuple[memoryview, memoryview]:
    """(JSON header, binary data after it) of a body whose header is `length` bytes (None: all of it)."""
    view = memoryview(body)
    if length is None:
        return view, view[len(view) :]
    return view[:length], view[length:]


def chunks(sizes: Sequence[int | None], data: memoryview, what: str = "request") -> list[memoryview | None]:
    """Cut `data` into the tensors' chunks: one per size, None where a tensor has no binary data.

    The sizes must add up to exactly the bytes there are: a short body or bytes left over mean the
    header and the data disagree, and guessing which tensor is wrong would hand a model garbage.
    """
    total = 0
    for size in sizes:
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise ValueError(f"binary_data_size must be a non-negative integer, got {size!r}")
            total += size
    if total != len(data):
        raise ValueError(
            f"the {what}'s tensors declare {total} bytes of binary data (binary_data_size), "
            f"{len(data)} follow the JSON header"
        )
    out: list[memoryview | None] = []
    offset = 0
    for size in sizes:
        if size is None:
            out.append(None)
        else:
            out.append(data[offset : offset + size])
            offset += size
    return out


def join(header: bytes, data: Sequence[Buffer]) -> tuple[list[Buffer], int | None]:
    """(body parts, header length) of a body: the JSON, then each tensor's bytes. The header length is
    None when nothing follows the JSON (send it as plain JSON then)."""
    if not data:
        return [header], None
    return [header, *data], len(header)
