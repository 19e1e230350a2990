"""numpy outputs -> the JSON text of a predict response (MakeJsonFromTensors)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from protocol import b64
from serving.status import invalid_argument
from serving.tensor_json.numbers import float_tokens


def _string_token(value: bytes, as_bytes: bool) -> str:
    if as_bytes:
        return json.dumps(b64.encode(value))
    return json.dumps(value.decode("utf-8", "replace"), ensure_ascii=False)


def value_tokens(array: np.ndarray, as_bytes: bool) -> list[str]:
    flat = array.reshape(-1)
    kind = flat.dtype.kind
    if kind == "f":
        if flat.dtype == np.float16:
            flat = flat.astype(np.float32)
        return float_tokens(flat)
    if kind == "b":
        return ["true" if v else "false" for v in flat.tolist()]
    if kind in "iu":
        return list(map(str, flat.tolist()))
    if kind in "OSU":
        return [_string_token(v if isinstance(v, bytes) else str(v).encode(), as_bytes) for v in flat.tolist()]
    raise invalid_argument(f"Failed to write JSON value for tensor type: {flat.dtype}")


def nest(tokens: list[str], shape: tuple) -> str:
    """Joins flat value tokens into nested JSON arrays of the given shape."""
    if not shape:
        return tokens[0]
    groups = tokens
    for depth in range(len(shape) - 1, -1, -1):
        size = shape[depth]
        count = int(np.prod(shape[:depth])) if depth else 1
        if size == 0:
            groups = ["[]"] * count
        else:
            groups = ["[" + ",".join(groups[i : i + size]) + "]" for i in range(0, count * size, size)]
    return groups[0]


def _as_bytes(name: str, array: np.ndarray) -> bool:
    return b64.written_as_b64(name) and array.dtype.kind in "OS"


_CHUNK = 1 << 16  # elements formatted at a time: a tensor's text is built in pieces, not one str per element


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def write_tensor(array: np.ndarray, as_bytes: bool, out: list[bytes]) -> None:
    """Appends the JSON of `array` (nested lists) to `out`, formatting at most _CHUNK values at a time.

    Memory stays near the size of the text itself (a list of one token per element of a 1 GB tensor
    would cost ~15 GB of Python strings).
    """
    shape = array.shape
    if array.size == 0 or not shape:
        out.append(_encode(nest(value_tokens(array, as_bytes), shape)))
        return
    width = shape[-1]
    rows = array.reshape(-1, width)
    spans = [int(np.prod(shape[j:-1], dtype=np.int64)) for j in range(len(shape) - 1)]  # rows per list at depth j
    if width > _CHUNK:  # long rows (a large vector): each row in pieces
        for row in range(rows.shape[0]):
            opens = 1 + sum(1 for span in spans if row % span == 0)
            closes = 1 + sum(1 for span in spans if (row + 1) % span == 0)
            out.append(_encode(("," if row else "") + "[" * opens))
            for start in range(0, width, _CHUNK):
                tokens = value_tokens(rows[row, start : start + _CHUNK], as_bytes)
                out.append(_encode(("," if start else "") + ",".join(tokens)))
            out.append(_encode("]" * closes))
        return
    per_chunk = _CHUNK // width
    for first in range(0, rows.shape[0], per_chunk):
        block = rows[first : first + per_chunk]
        tokens = value_tokens(block, as_bytes)
        text = []
        for i in range(block.shape[0]):
            row = first + i
            opens = 1 + sum(1 for span in spans if row % span == 0)
            closes = 1 + sum(1 for span in spans if (row + 1) % span == 0)
            text.append("[" * opens + ",".join(tokens[i * width : (i + 1) * width]) + "]" * closes)
        out.append(_encode(("," if first else "") + ",".join(text)))


def tensor_json(name: str, array: np.ndarray) -> bytes:
    out: list[bytes] = []
    write_tensor(array, _as_bytes(name, array), out)
    return b"".join(out)


def predict_response_json(outputs: Mapping[str, np.ndarray], fmt: str) -> bytes:
    """The response body of a predict call: `{"outputs": ...}` (columnar) or `{"predictions": [...]}` (row)."""
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    out: list[bytes] = []
    if fmt == "columnar":
        if len(names) == 1:
            out.append(b'{"outputs": ')
            write_tensor(outputs[names[0]], _as_bytes(names[0], outputs[names[0]]), out)
            out.append(b"}")
        else:
            for i, name in enumerate(names):
                out.append((b'{"outputs": {' if i == 0 else b", ") + _encode(json.dumps(name)) + b": ")
                write_tensor(outputs[name], _as_bytes(name, outputs[name]), out)
            out.append(b"}}")
        return b"".join(out)
    batch = None
    for name in names:
        array = outputs[name]
        if array.ndim == 0:
            raise invalid_argument(f"Tensor name: {name} has no shape information ")
        if batch is not None and array.shape[0] != batch:
            raise invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} expecting: {batch}"
            )
        batch = array.shape[0]
    if len(names) == 1:  # the rows of one output are its tensor's outer list
        out.append(b'{"predictions": ')
        write_tensor(outputs[names[0]], _as_bytes(names[0], outputs[names[0]]), out)
        out.append(b"}")
        return b"".join(out)
    keys = [_encode(json.dumps(n)) + b": " for n in names]
    out.append(b'{"predictions": [')
    for i in range(batch):
        out.append(b", {" if i else b"{")
        for j, name in enumerate(names):
            out.append(b", " + keys[j] if j else keys[j])
            write_tensor(outputs[name][i, ...], _as_bytes(name, outputs[name]), out)
        out.append(b"}")
    out.append(b"]}")
    return b"".join(out)


def float_json(value: float, dtype=np.float32) -> str:
    return float_tokens(np.array([value], dtype=dtype))[0]
