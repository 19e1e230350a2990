"""The bodies of REST answers, byte for byte as json_tensor.cc writes them (MakeJsonFromTensors,
MakeJsonFromClassificationResult, MakeJsonFromRegressionResult, MakeJsonFromStatus).

The writer is rapidjson's PrettyWriter (writer.py), switched between modes as the official code switches it:
- row format: each prediction on the batch's line in single-line mode, the batch array closed in the default
  mode (`{"predictions": [..., ...` then `\\n    ]`); with several outputs each prediction is an object whose
  keys take a line each;
- columnar format: all in the default mode, one value per line;
- classify: the results on one line, the outer array closed on its own line; regress: all on one line;
- errors: `{\\n    "error": "..."\\n}`.
Outputs are written in name order; string outputs whose name ends in `_bytes` as `{"b64": ...}` objects.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from protocol import b64
from protocol.generated.tensorflow_serving.apis import classification_pb2, regression_pb2
from serving.errors import invalid_argument
from serving.tensor_json.numbers import decimal_text
from serving.tensor_json.writer import encode, newline, quote, write_tensor

_ROOT = 1  # the level inside the answer's top-level object


def _as_bytes(name: str, array: np.ndarray) -> bool:
    return b64.written_as_b64(name) and array.dtype.kind in "OSU"


def _array(value: np.ndarray | bytes) -> np.ndarray:
    """An output as an array: a scalar string output comes as bytes, and numpy's 'S' type would drop its
    trailing NUL bytes."""
    if isinstance(value, bytes | str):
        array = np.empty((), dtype=object)
        array[()] = value
        return array
    return np.asarray(value)


def _key(name: str, level: int, first: bool) -> bytes:
    """An object member's prefix in the default mode: the key on a new line at `level`."""
    return encode(("" if first else ",") + newline(level) + quote(name) + ": ")


def predict_response_json(outputs: Mapping[str, np.ndarray], fmt: str) -> bytearray:
    """The body of a predict answer: `{"outputs": ...}` (columnar) or `{"predictions": [...]}` (row), in one
    buffer (bytes-like; not copied into bytes, which would double a large answer for a moment)."""
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    arrays = {name: _array(outputs[name]) for name in names}
    out = bytearray(b"{")
    if fmt == "columnar":
        out.extend(_key("outputs", _ROOT, True))
        if len(names) == 1:
            write_tensor(arrays[names[0]], _as_bytes(names[0], arrays[names[0]]), out, _ROOT, single_line=False)
        else:
            out.extend(b"{")
            for i, name in enumerate(names):
                out.extend(_key(name, _ROOT + 1, i == 0))
                write_tensor(arrays[name], _as_bytes(name, arrays[name]), out, _ROOT + 1, single_line=False)
            out.extend(encode(newline(_ROOT) + "}"))
    else:
        out.extend(_key("predictions", _ROOT, True))
        _write_rows(arrays, names, out)
    out.extend(b"\n}")
    return out


def _write_rows(arrays: Mapping[str, np.ndarray], names: list[str], out: bytearray) -> None:
    batch = None
    for name in names:
        array = arrays[name]
        if array.ndim == 0:
            raise invalid_argument(f"Tensor name: {name} has no shape information ")
        if batch is not None and array.shape[0] != batch:
            raise invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} expecting: {batch}"
            )
        batch = array.shape[0]
    close = newline(_ROOT) + "]"
    if len(names) == 1:  # the rows of one output are its tensor's outer list, each on the batch's line
        name = names[0]
        write_tensor(arrays[name], _as_bytes(name, arrays[name]), out, _ROOT, single_line=True, outer_close=close)
        return
    item = _ROOT + 2  # inside the predictions array and a prediction's object
    out.extend(b"[")
    for row in range(batch):
        out.extend(encode(("," if row else "") + newline(_ROOT + 1) + "{"))
        for i, name in enumerate(names):
            out.extend(_key(name, item, i == 0))
            write_tensor(arrays[name][row, ...], _as_bytes(name, arrays[name]), out, item, single_line=True)
        out.extend(encode(newline(_ROOT + 1) + "}"))
    out.extend(encode(close if batch else "]"))


def classify_json(result: classification_pb2.ClassificationResult) -> bytes:
    if not result.classifications:
        raise invalid_argument("Cannot convert empty ClassificationResults to JSON")
    rows = (
        "[" + ", ".join(f"[{quote(c.label)}, {decimal_text(c.score)}]" for c in classifications.classes) + "]"
        for classifications in result.classifications
    )
    return encode('{\n    "results": [' + ", ".join(rows) + newline(_ROOT) + "]\n}")


def regress_json(result: regression_pb2.RegressionResult) -> bytes:
    if not result.regressions:
        raise invalid_argument("Cannot convert empty RegressionResults to JSON")
    return encode('{\n    "results": [' + ", ".join(decimal_text(r.value) for r in result.regressions) + "]\n}")


def error_json(message: str) -> bytes:
    """MakeJsonFromStatus: the body of every error answer."""
    return encode('{\n    "error": ' + quote(message) + "\n}")
