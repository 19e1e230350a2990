"""JSON text as rapidjson's PrettyWriter lays it out: how the official server writes every REST answer and the
values quoted in its error messages.

Four spaces of indent per level; `"key": value`; an array element starts a new line unless the writer is in
single-line-array mode (kFormatSingleLineArray), where elements follow `, `; a non-empty object, and a
non-empty array closed in the default mode, closes on a line of its own. json_tensor.cc switches the mode
around parts of an answer, so answers mix both (response.py). Strings are escaped as rapidjson's Writer
escapes them: `"`, `\\` and control characters only (\\b \\t \\n \\f \\r, else \\u00XX in capitals); every other
byte is written as it is, including bytes that are not UTF-8 (they travel as surrogate escapes in str).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from protocol import b64
from protocol.dtypes import datatype_name
from serving.errors import invalid_argument
from serving.tensor_json.numbers import decimal_tokens, double_text

INDENT = 4
DEBUG_LIMIT = 256  # kMaxJsonDebugStringBytes: a value quoted in an error message stops after this many bytes

_ESCAPES = {code: f"\\u{code:04X}" for code in range(0x20)} | {
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0C: "\\f",
    0x0D: "\\r",
    0x22: '\\"',
    0x5C: "\\\\",
}


def quote(text: str) -> str:
    return '"' + text.translate(_ESCAPES) + '"'


def encode(text: str) -> bytes:
    """The bytes of written text: surrogate escapes go back to the bytes they stood for."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that came in as a \u escape
        return text.encode("utf-8", "surrogatepass")


def newline(level: int) -> str:
    return "\n" + " " * (INDENT * level)


class PrettyWriter:
    """rapidjson's PrettyWriter event by event, for the small parts of an answer and for debug text.

    `level` counts the open arrays and objects (rapidjson's level stack); with `limit`, a token is written only
    while the text is shorter than the limit, and every call after that returns False (JsonWriterWithLimit)."""

    def __init__(self, limit: int | None = None, single_line: bool = False):
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self.single_line = single_line
        self._levels: list[list] = []  # [is_array, values written]

    def text(self) -> str:
        return "".join(self.parts)

    def _put(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    def _prefix(self) -> None:
        if not self._levels:
            return
        level = self._levels[-1]
        if level[0]:
            if level[1]:
                self._put(", " if self.single_line else ",")
            if not self.single_line:
                self._put(newline(len(self._levels)))
        else:
            if level[1]:
                self._put(",\n" if level[1] % 2 == 0 else ": ")
            else:
                self._put("\n")
            if level[1] % 2 == 0:
                self._put(" " * (INDENT * len(self._levels)))
        level[1] += 1

    def _open(self) -> bool:
        return self.limit is None or self.size < self.limit

    def value(self, token: str | None) -> bool:
        """A scalar's text; None (a number the writer refuses, like NaN) writes the prefix and fails."""
        if not self._open():
            return False
        self._prefix()
        if token is None:
            return False
        self._put(token)
        return True

    def key(self, name: str) -> bool:
        return self.value(quote(name))

    def start(self, is_array: bool) -> bool:
        if not self._open():
            return False
        self._prefix()
        self._levels.append([is_array, 0])
        self._put("[" if is_array else "{")
        return True

    def end(self) -> bool:
        if not self._open():
            return False
        is_array, count = self._levels.pop()
        if count and not (is_array and self.single_line):
            self._put(newline(len(self._levels)))
        self._put("]" if is_array else "}")
        return True


def _accept(value: Any, writer: PrettyWriter) -> bool:
    """rapidjson's Value::Accept: the value's events, stopping at the first the writer refuses."""
    if isinstance(value, dict):
        if not writer.start(False):
            return False
        for name, item in value.items():
            if not writer.key(name) or not _accept(item, writer):
                return False
        return writer.end()
    if isinstance(value, list):
        if not writer.start(True):
            return False
        for item in value:
            if not _accept(item, writer):
                return False
        return writer.end()
    return writer.value(scalar_text(value))


def scalar_text(value: Any) -> str | None:
    if isinstance(value, str):
        return quote(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    return double_text(value)


def debug_string(value: Any) -> str:
    """JsonValueToDebugString: a parsed value as error messages quote it (single-line arrays, cut near 256 bytes)."""
    writer = PrettyWriter(limit=DEBUG_LIMIT, single_line=True)
    _accept(value, writer)
    return writer.text()


# ---------------------------------------------------------------- tensors

_WRITTEN = {"DT_FLOAT", "DT_DOUBLE", "DT_INT8", "DT_INT16", "DT_INT32", "DT_UINT8", "DT_INT64", "DT_UINT32"}
_WRITTEN |= {"DT_UINT64", "DT_BOOL", "DT_STRING"}  # AddSingleValueAndAdvance writes these; any other is an error
_CHUNK = 1 << 16  # values formatted at a time: a tensor's text is built in pieces, not one str per element


def writable(array: np.ndarray) -> None:
    """The official writer's error for a dtype it has no JSON for (half, bfloat16, uint16, complex...)."""
    try:
        name = datatype_name(array.dtype)
    except ValueError:
        name = f"DT_{array.dtype.name.upper()}"
    if name not in _WRITTEN:
        raise invalid_argument(f"Failed to write JSON value for tensor type: {name[3:].lower()}")


def value_tokens(flat: np.ndarray, as_bytes: bool, level: int) -> list[str]:
    """The text of each value of a flat array of a writable dtype, written inside `level` open arrays and objects
    (a `{"b64": ...}` object spans three lines whatever the array mode, indented by its level)."""
    kind = flat.dtype.kind
    if kind == "f":
        return decimal_tokens(flat)
    if kind == "b":
        return ["true" if v else "false" for v in flat.tolist()]
    if kind in "iu":
        return list(map(str, flat.tolist()))
    values = [v if isinstance(v, bytes) else str(v).encode("utf-8", "surrogateescape") for v in flat.tolist()]
    if as_bytes:
        before, after = "{" + newline(level + 1) + quote(b64.KEY) + ": ", newline(level) + "}"
        return [before + quote(b64.encode(v)[b64.KEY]) + after for v in values]
    return [quote(v.decode("utf-8", "surrogateescape")) for v in values]


def _small(array: np.ndarray, as_bytes: bool, level: int, single_line: bool) -> str:
    """A scalar or a tensor with no values, element by element."""
    if array.ndim == 0:
        return value_tokens(array.reshape(1), as_bytes, level)[0]
    if not array.shape[0]:
        return "[]"
    parts = [_small(item, as_bytes, level + 1, single_line) for item in array]
    if single_line:
        return "[" + ", ".join(parts) + "]"
    return "[" + ",".join(newline(level + 1) + part for part in parts) + newline(level) + "]"


def write_tensor(
    array: np.ndarray, as_bytes: bool, out: bytearray, level: int, single_line: bool, outer_close: str = "]"
) -> None:
    """Appends a tensor's JSON to `out` (AddTensorValues), formatting at most _CHUNK values at a time.

    `level` is the writer's level before the tensor's outer '['. `outer_close` replaces that outer array's
    closing ']' (the row format closes its batch in the default mode). Memory stays near the size of the
    text itself: one buffer grown in place (a str per element of a 1 GB tensor would cost ~15 GB, a list of
    pieces joined at the end twice the text)."""
    writable(array)
    shape = array.shape
    if array.size == 0 or not shape:
        text = _small(array, as_bytes, level, single_line)
        out.extend(encode(text[:-1] + outer_close if shape and shape[0] else text))
        return
    rank, width = len(shape), shape[-1]
    rows = array.reshape(-1, width)
    spans = [int(np.prod(shape[j:-1], dtype=np.int64)) for j in range(rank - 1)]  # rows in an array of dim j
    if single_line:
        comma, opens, values = ", ", ["["] * rank, ", "
        closes = ["]"] * rank
    else:
        comma = None
        opens = ["[" + newline(level + j + 1) for j in range(rank)]
        closes = [newline(level + j) + "]" for j in range(rank)]
        values = "," + newline(level + rank)
    closes[0] = closes[0][:-1] + outer_close

    def head(row: int) -> str:
        opened = [j for j in range(rank - 1) if row % spans[j] == 0] + [rank - 1]
        lead = "" if row == 0 else (comma if single_line else "," + newline(level + opened[0]))
        return lead + "".join(opens[j] for j in opened)

    def tail(row: int) -> str:
        closed = [j for j in range(rank - 1) if (row + 1) % spans[j] == 0] + [rank - 1]
        return "".join(closes[j] for j in closed[::-1])

    if width > _CHUNK:  # long rows (a large vector): each row in pieces
        for row in range(rows.shape[0]):
            out.extend(encode(head(row)))
            for start in range(0, width, _CHUNK):
                tokens = value_tokens(rows[row, start : start + _CHUNK], as_bytes, level + rank)
                out.extend(encode((values if start else "") + values.join(tokens)))
            out.extend(encode(tail(row)))
        return
    per_chunk = _CHUNK // width
    for first in range(0, rows.shape[0], per_chunk):
        block = rows[first : first + per_chunk]
        tokens = value_tokens(block.reshape(-1), as_bytes, level + rank)
        text = "".join(
            head(row) + values.join(tokens[i * width : (i + 1) * width]) + tail(row)
            for i, row in enumerate(range(first, first + len(block)))
        )
        out.extend(encode(text))
