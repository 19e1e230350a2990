"""How many values a request body holds, counted before anything is built from it.

A parsed body costs far more than its text: simdjson's tape takes some 24 bytes a number, Python objects
30-60 bytes a value, so 100 MiB of `0,0,...` (52 million values) cost 1.8 GB before its tensor could be
refused. With --max_tensor_elements set, a body may hold at most what its signature's inputs can take (the
cap for each input) plus SLACK values for anything else (signature name, keys the API does not read); a
body holding more is refused (400) before it is parsed. The count costs no memory to speak of:
- first an upper bound from C-speed byte counts: every value but the last in its array or object is
  followed by a comma, so values <= commas + '[' + '{' + 1;
- only when that bound is over the budget, the exact count: the body scanned in chunks with numpy, strings
  masked out (escaped quotes included), scalar values counted (numbers and literals, and strings that are
  not object keys).
Without a cap nothing is counted, as officially.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from serving.errors import invalid_argument
from serving.request_limits import RequestLimits

SLACK = 1 << 20  # values a body may hold beyond its tensors' cap
_CHUNK = 1 << 20  # bytes scanned at a time: the scan's temporaries stay near 20 MB

_SCALAR = np.ones(256, dtype=bool)  # bytes that belong to a number or a literal (outside strings)
_SCALAR[list(b' \t\n\r[]{},:"')] = False
_QUOTE, _BACKSLASH, _COLON = ord('"'), ord("\\"), ord(":")


def upper_bound(body: bytes | bytearray) -> int:
    """At least as many as the scalar values in the body (a comma, bracket or brace inside a string counts too)."""
    return body.count(b",") + body.count(b"[") + body.count(b"{") + 1


def count_values(body: bytes | bytearray) -> int:
    """The scalar values in a body: numbers, true/false/null and strings, object keys not counted."""
    data = np.frombuffer(body, dtype=np.uint8)
    values, in_string, backslashes, in_scalar = 0, 0, 0, False
    for start in range(0, data.size, _CHUNK):
        chunk = data[start : start + _CHUNK]
        scalar = _SCALAR[chunk]
        quotes = chunk == _QUOTE
        if in_string or backslashes or quotes.any():  # else (numbers only) nothing is inside a string
            is_backslash = chunk == _BACKSLASH
            if backslashes or is_backslash.any():
                quotes &= ~_escaped(is_backslash, backslashes)
                backslashes = _trailing_run(is_backslash, backslashes)
            parity = (np.cumsum(quotes, dtype=np.uint8) + in_string) & 1  # 1 from an opening quote to its closing one
            outside = (parity == 0) & ~quotes
            scalar &= outside
            values += np.count_nonzero(quotes & (parity == 1)) - np.count_nonzero((chunk == _COLON) & outside)
            in_string = int(parity[-1])
        else:
            values -= np.count_nonzero(chunk == _COLON)
        values += np.count_nonzero(scalar[1:] > scalar[:-1]) + bool(scalar[0] and not in_scalar)
        in_scalar = bool(scalar[-1])
    return int(values)


def _escaped(is_backslash: np.ndarray, carried: int) -> np.ndarray:
    """Whether each byte follows an odd run of backslashes (`carried` of them ended the previous chunk)."""
    index = np.arange(is_backslash.size)
    last_other = np.maximum.accumulate(np.where(is_backslash, -1, index))  # last non-backslash at or before
    before = np.empty_like(last_other)
    before[0], before[1:] = -1, last_other[:-1]
    run = index - 1 - before + np.where(before < 0, carried, 0)
    return run % 2 == 1


def _trailing_run(is_backslash: np.ndarray, carried: int) -> int:
    others = np.flatnonzero(~is_backslash)
    return int(is_backslash.size - 1 - others[-1]) if others.size else carried + is_backslash.size


def check_values(body: bytes | bytearray, limits: RequestLimits, inputs: Callable[[], int]) -> None:
    """Refuses a body holding more values than `inputs()` tensors of --max_tensor_elements each, plus SLACK.

    `inputs` is asked only for a body whose upper bound is over the budget of one input."""
    cap = limits.max_tensor_elements
    if cap <= 0 or upper_bound(body) <= cap + SLACK:
        return
    count_inputs = max(inputs(), 1)
    allowed = count_inputs * cap + SLACK
    if upper_bound(body) <= allowed:
        return
    count = count_values(body)
    if count > allowed:
        raise invalid_argument(
            f"The request body holds {count} values, more than the server allows for {count_inputs} input "
            f"tensor(s) (--max_tensor_elements={cap} each, and {SLACK} more)"
        )
