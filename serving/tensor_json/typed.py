"""The typed path for large numeric tensors: JSON text straight into typed numpy arrays, no Python object per value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import simdjson  # pysimdjson: exports nested numeric arrays to typed buffers

from serving.errors import ServingError
from serving.request_limits import RequestLimits
from serving.tensor_json.numbers import FLOATS, INTEGERS, in_range, to_floats, to_integers
from serving.tensor_json.outline import outlined
from serving.tensor_json.request import MAX_RANK


class TypedRequest:
    """A predict body whose tensors go from JSON text straight into typed numpy arrays.

    simdjson parses the body into its own tape (no Python object per value) and exports each
    nested numeric array to a buffer. It is used only when a tensor is regular, purely numeric and
    provably accepted by the reference path with the same values; anything else (ragged lists, bools,
    nulls, strings, b64 objects, NaN literals, integers out of their dtype's range) returns None and the
    reference path decides, so errors stay the official ones.
    """

    def __init__(self, body: bytes, parser: Any, doc: Any):
        self._body, self._parser, self._doc = body, parser, doc

    @classmethod
    def parse(cls, body: bytes | bytearray) -> TypedRequest | None:
        """None unless simdjson reads the body as an object with unique top-level keys and a string
        `signature_name` (if any); every other document goes to parse_document."""
        parser = simdjson.Parser()
        try:
            doc = parser.parse(body)
        except (ValueError, TypeError, RuntimeError):
            return None
        if not isinstance(doc, simdjson.Object):
            return None
        keys = list(doc.keys())
        if len(keys) != len(set(keys)) or not isinstance(doc.get("signature_name", ""), str):
            return None
        return cls(body, parser, doc)

    @property
    def signature_name(self) -> str:
        return self._doc.get("signature_name", "")

    def close(self) -> None:
        """Frees simdjson's tape (about the body's size plus 24 bytes a number)."""
        self._doc = self._parser = None

    def arrays(
        self, input_dtypes: Mapping[str, int], limits: RequestLimits = RequestLimits()
    ) -> tuple[dict[str, np.ndarray], str] | None:
        """The same (inputs, format) as predict_request_arrays, or None to let it decide."""
        try:
            return self._arrays(input_dtypes, limits)
        finally:
            self.close()

    def _arrays(self, input_dtypes: Mapping[str, int], limits: RequestLimits):
        names = sorted(input_dtypes)
        if not names or ("instances" in self._doc) == ("inputs" in self._doc):
            return None
        if "inputs" in self._doc:
            inputs = self._doc["inputs"]
            regular = outlined(self._body, _first_shapes(_columns_in_body_order(inputs, names)))
            found, fmt = _typed_columns(inputs, input_dtypes, limits, regular), "columnar"
            arrays_in_json = None if found is None else sum(_array_count(shape) for shape, _ in found.values())
        else:
            found, fmt = _typed_instances(self._doc["instances"], input_dtypes, self._body), "row"
            if found is None or not _within(limits, {name: shape for name, (shape, _) in found.items()}):
                return None  # the reference path converts the first example before it refuses: its error, its order
            # one list of rows, then per row the lists of each input
            arrays_in_json = 1 + sum(_array_count(shape) - 1 for shape, _ in found.values())
        if found is None or self._body.count(b"[") != arrays_in_json:
            return None  # a list where a number belongs (or a list elsewhere in the body): not provably regular
        self.close()
        arrays = {}
        for name, (shape, flat) in found.items():
            array = _checked(np.frombuffer(flat, _BUFFER_TYPES[_buffer_code(input_dtypes[name])]), input_dtypes[name])
            if array is None:
                return None
            arrays[name] = array.reshape(shape)
        return arrays, fmt


_BUFFER_TYPES = {"d": np.float64, "i": np.int64}


def _buffer_code(dtype: int) -> str | None:
    return "d" if dtype in FLOATS else "i" if dtype in INTEGERS else None


def _columns_in_body_order(inputs: Any, names: list[str]) -> list:
    """The columnar tensors the names select, in the order the body has them (empty if a name is repeated)."""
    if isinstance(inputs, simdjson.Array):
        return [inputs]
    if not isinstance(inputs, simdjson.Object):
        return []
    order = [key for key in inputs.keys() if key in names]
    return [inputs[key] for key in order] if len(order) == len(set(order)) else []


def _first_shapes(values: list) -> list[tuple]:
    """The shape of each value as its first elements give it (dense_shape's); empty unless each is an array."""
    shapes = [_first_shape(value) for value in values]
    return [] if None in shapes else shapes


def _typed_columns(
    inputs: Any, input_dtypes: Mapping[str, int], limits: RequestLimits, regular: bool = False
) -> dict | None:
    """Columnar: one tensor, or an object keyed by input name, in the reference path's order. `regular`: the
    body's outline showed every tensor regular (outline.py)."""
    names = sorted(input_dtypes)
    if isinstance(inputs, simdjson.Array) and len(names) == 1:
        tensor = _typed_tensor(inputs, input_dtypes[names[0]], limits, names[0], regular)
        return None if tensor is None else {names[0]: tensor}
    if not isinstance(inputs, simdjson.Object) or "b64" in inputs:
        return None
    found = {}
    for name in names:
        tensor = _typed_tensor(inputs[name], input_dtypes[name], limits, name, regular) if name in inputs else None
        if tensor is None:
            return None
        found[name] = tensor
    return found


def _typed_instances(instances: Any, input_dtypes: Mapping[str, int], body: bytes | bytearray) -> dict | None:
    """Row format: a plain list of examples is one tensor with the batch outside; objects are named rows."""
    if not isinstance(instances, simdjson.Array) or not len(instances):
        return None
    if isinstance(instances[0], simdjson.Object):
        return _typed_rows(instances, input_dtypes)
    if len(input_dtypes) != 1:
        return None
    name = next(iter(input_dtypes))
    tensor = _typed_tensor(instances, input_dtypes[name], regular=outlined(body, _first_shapes([instances])))
    return None if tensor is None else {name: tensor}


def _array_count(shape: tuple) -> int:
    """JSON arrays in a regular tensor of this shape: 1 + d0 + d0*d1 + ... (all but the leaves)."""
    return int(sum(np.prod(shape[:k], dtype=np.int64) for k in range(len(shape))))


def _within(limits: RequestLimits, shapes: Mapping[str, tuple]) -> bool:
    try:
        for name, shape in shapes.items():
            limits.check_elements(f"Input tensor '{name}'", int(np.prod(shape, dtype=object)))
    except ServingError:
        return False
    return True


def _first_shape(array: Any) -> tuple | None:
    """The shape dense_shape infers from the first element at each level; None for an empty list, a rank
    past MAX_RANK or a first leaf that is not a number."""
    shape, value = [], array
    while isinstance(value, simdjson.Array):
        shape.append(len(value))
        if len(shape) > MAX_RANK or not shape[-1]:
            return None
        value = value[0]
    if not shape or isinstance(value, (simdjson.Object, str)) or value is None or isinstance(value, bool):
        return None
    return tuple(shape)


def _regular_shape(array: Any, regular: bool = False) -> tuple | None:
    """The shape dense_shape would infer, when every list at every level but the innermost has it (walked
    unless the body's outline showed it: `regular`).

    Lists inside the innermost lists are ruled out afterwards by counting '[' in the body."""
    shape = _first_shape(array)
    if shape is None or regular:
        return shape

    def walk(level: Any, depth: int) -> bool:
        if depth == len(shape) - 1:
            return True
        for child in level:
            if not isinstance(child, simdjson.Array) or len(child) != shape[depth + 1] or not walk(child, depth + 1):
                return False
        return True

    return shape if walk(array, 0) else None


def _typed_tensor(
    value: Any, dtype: int, limits: RequestLimits | None = None, name: str = "", regular: bool = False
) -> tuple | None:
    """(shape, flat buffer) of a regular numeric tensor of a dtype the typed path handles, else None.

    With `limits` the element cap is checked where json_to_array checks it (after the shape, before values)."""
    code = _buffer_code(dtype)
    if code is None or not isinstance(value, simdjson.Array):
        return None
    shape = _regular_shape(value, regular)
    if shape is None:
        return None
    if limits is not None:
        limits.check_elements(f"Input tensor '{name}'", int(np.prod(shape, dtype=object)))
    try:
        flat = value.as_buffer(of_type=code)
    except (TypeError, ValueError, OverflowError):
        return None  # bools, nulls, strings, objects, or a float where an integer is expected
    if memoryview(flat).nbytes != 8 * int(np.prod(shape, dtype=np.int64)):
        return None
    return shape, flat


def _typed_rows(instances: Any, input_dtypes: Mapping[str, int]) -> dict | None:
    """Row format with named inputs: every row an object with exactly the input names, one shape per name."""
    names = sorted(input_dtypes)
    rows: dict[str, list] = {name: [] for name in names}
    for row in instances:
        if not isinstance(row, simdjson.Object) or "b64" in row:
            return None
        keys = list(row.keys())
        if len(keys) != len(names) or set(keys) != set(names):
            return None
        for name in names:
            tensor = _typed_tensor(row[name], input_dtypes[name])
            if tensor is None or (rows[name] and tensor[0] != rows[name][0][0]):
                return None
            rows[name].append(tensor)
    return {name: ((len(parts),) + parts[0][0], b"".join(flat for _, flat in parts)) for name, parts in rows.items()}


def _checked(flat: np.ndarray, dtype: int) -> np.ndarray | None:
    """The typed values in dtype, by the number rules; None for integers out of the dtype's range (the
    reference path gives the error). A read-only export is copied once, a writable one converted in place."""
    if dtype in INTEGERS and not in_range(flat, dtype):
        return None
    array = to_floats(flat, dtype) if dtype in FLOATS else to_integers(flat, dtype)
    return array.copy() if array is flat and not flat.flags.writeable else array
