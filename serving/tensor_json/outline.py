"""Whether a body's tensors are regular arrays, read from its bytes rather than by walking the parsed arrays.

Walking a parsed B0 image (50,176 innermost lists of 3) in Python takes 5-9 ms; its bytes say the same in
about 2. In a valid JSON document, `[` and `]` open and close arrays and each comma separates two values,
so the brackets and commas outside strings fix how arrays nest and how many values each holds: a tensor is a
regular array of shape (d0, ..., dk) when, from its `[` to its `]`, they read as `outline(shape)`, e.g.
`[[,,],[,,]]` for (2, 3). Two things the outline cannot tell are left to the caller: what the values are
(numbers, not strings, objects, true/false/null), and `[5]` from `[]` (its count of numbers tells).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_CHUNK = 1 << 20  # bytes scanned at a time: the scan's temporaries stay near a few MB
_OPEN, _CLOSE, _COMMA, _QUOTE = (ord(c) for c in '[],"')


def outline(shape: Sequence[int]) -> bytes:
    """The brackets and commas of a regular array of this shape, in the order JSON text has them."""
    text = b""
    for size in reversed(shape):
        text = b"[" + (text + b",") * (size - 1) + text + b"]"  # not join: it takes 80 bytes a part while it works
    return text


def _marks(body: bytes | bytearray) -> bytes:
    """The body's brackets, commas and quotes, in order."""
    data = np.frombuffer(body, dtype=np.uint8)
    parts = []
    for start in range(0, data.size, _CHUNK):
        chunk = data[start : start + _CHUNK]
        parts.append(chunk[(chunk == _OPEN) | (chunk == _CLOSE) | (chunk == _COMMA) | (chunk == _QUOTE)])
    return np.concatenate(parts).tobytes() if parts else b""


def outlined(body: bytes | bytearray, shapes: Sequence[Sequence[int]]) -> bool:
    """Whether the brackets and commas outside strings of a valid JSON body, from its first `[` to its last
    `]`, read as the outlines of `shapes` one after the other with one comma between two: then its arrays
    that no other array holds are exactly tensors of these shapes, in this order. False for a body with a
    backslash (escaped quotes are left to the caller's own walk)."""
    if not shapes or b"\\" in body:
        return False
    marks = _marks(body)
    if b'"' in marks:  # with no escapes, strings run from one quote to the next
        data = np.frombuffer(marks, dtype=np.uint8)
        quotes = data == _QUOTE
        inside = np.cumsum(quotes, dtype=np.uint8) & 1  # 1 from an opening quote to its closing one
        marks = data[(inside == 0) & ~quotes].tobytes()
    start, end = marks.find(b"["), marks.rfind(b"]")
    return start >= 0 and marks[start : end + 1] == b",".join(outline(shape) for shape in shapes)
