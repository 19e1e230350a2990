"""JSON <-> tensors with the rules of tensorflow_serving/util/json_tensor.cc.

Requests: row (`instances`) and columnar (`inputs`) formats, `{"b64": ...}` strings, strict
per-dtype value checks (integers reject 1.0, bools only true/false), NaN/Infinity literals.
Responses: floats as the official server writes them (six significant digits when that
round-trips, else full precision; `.0` on integral values; NaN, Infinity, -Infinity), strings
whose output name ends in `_bytes` as `{"b64": ...}`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson  # several times faster than json for large bodies; json stays the reference parser
import simdjson  # pysimdjson: exports nested numeric arrays to typed buffers (the typed path below)

from protocol import b64
from protocol.dtypes import type_name as dtype_name
from protocol.generated.tensorflow.core.framework import types_pb2
from serving.limits import RequestLimits
from serving.status import Code, ServingError, invalid_argument

MAX_RANK = 254
_DEBUG_LIMIT = 256

_INT_RANGES = {
    types_pb2.DT_INT8: (-(1 << 31), (1 << 31) - 1, np.int8),
    types_pb2.DT_INT16: (-(1 << 31), (1 << 31) - 1, np.int16),
    types_pb2.DT_INT32: (-(1 << 31), (1 << 31) - 1, np.int32),
    types_pb2.DT_UINT8: (-(1 << 31), (1 << 31) - 1, np.uint8),
    types_pb2.DT_INT64: (-(1 << 63), (1 << 63) - 1, np.int64),
    types_pb2.DT_UINT32: (0, (1 << 32) - 1, np.uint32),
    types_pb2.DT_UINT64: (0, (1 << 64) - 1, np.uint64),
}
_FLOATS = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64}
# Integers a float type holds exactly (rapidjson's IsLosslessFloat / IsLosslessDouble), and float's range.
_EXACT_INTEGERS = {types_pb2.DT_FLOAT: 1 << 24, types_pb2.DT_DOUBLE: 1 << 53}
_FLOAT_MAX = float(np.finfo(np.float32).max)

_PARSE_MESSAGES = {
    "Expecting value": "Invalid value.",
    "Expecting property name enclosed in double quotes": "Missing a name for object member.",
    "Expecting ':' delimiter": "Missing a colon after a name of object member.",
    "Expecting ',' delimiter": "Missing a comma or ']' after an array element.",
    "Unterminated string starting at": "Missing a closing quotation mark in string.",
    "Invalid control character at": "Invalid encoding in string.",
    "Invalid \\escape": "Invalid escape character in string.",
    "Invalid \\uXXXX escape": "Incorrect hex digit after \\u escape in string.",
}


# ---------------------------------------------------------------- parsing the document


def _json_int(digits: str) -> int:
    """A JSON integer; more digits than any double can hold is rapidjson's error (and Python's int() would refuse
    over 4,300 digits with a ValueError that is no client error)."""
    if len(digits.lstrip("-")) > _MAX_DOUBLE_DIGITS:
        raise invalid_argument("JSON Parse error: Number too big to be stored in double.")
    return int(digits)


_MAX_DOUBLE_DIGITS = 309  # 10**309 > the largest double; JSON integers have no leading zeros
_DECODER = json.JSONDecoder(parse_int=_json_int)


def parse_document(body: bytes | bytearray) -> dict:
    """Parses a request body; only a JSON object is accepted. Trailing data is ignored like rapidjson.

    orjson reads the bytes as they are; only a body it refuses is decoded to text for the reference parser
    (a second copy of a large body is never made for a valid one)."""
    doc = _fast_parse(body)
    if doc is not None:
        return doc
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise invalid_argument(f"JSON Parse error: Invalid encoding in string. at offset: {e.start}") from None
    start = len(text) - len(text.lstrip())
    if start == len(text):
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        doc, _ = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as e:
        message = _PARSE_MESSAGES.get(e.msg, e.msg + ".")
        raise invalid_argument(f"JSON Parse error: {message} at offset: {e.pos}") from None
    except RecursionError:
        doc = _parse_read_keys(text, start)
    if not isinstance(doc, dict):
        raise invalid_argument(f"JSON Value: {debug_string(doc)} Is not object")
    return doc


READ_KEYS = ("signature_name", "instances", "inputs", "context", "examples")  # what the REST API reads
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]')
_CLOSING = {"]": "[", "}": "{"}


def _parse_read_keys(text: str, start: int) -> dict:
    """A document too deep for the parser: rapidjson parses any depth, so the top-level keys the API reads
    are parsed alone and the values of the others skipped once their brackets and strings are seen to balance
    (their scalars are not checked: the one place this codec is more lenient). Deep nesting inside a key
    that is read is still an error."""
    if text[start] != "{":
        raise invalid_argument("JSON Parse error: Document nested too deeply.")
    stack: list[str] = []
    spans: dict[str, list[int]] = {}
    key, expect_key, end = None, True, None
    for match in _TOKENS.finditer(text, start):
        token = match.group()
        depth = len(stack)
        if token in "[{":
            stack.append(token)
        elif token in "]}":
            if not stack or stack.pop() != _CLOSING[token]:
                raise invalid_argument(f"JSON Parse error: Invalid value. at offset: {match.start()}")
            if not stack:
                if key is not None:
                    spans[key].append(match.start())
                end = match.end()
                break
        elif depth == 1 and token == ",":
            if key is not None:
                spans[key].append(match.start())
            key, expect_key = None, True
        elif depth == 1 and token == ":":
            expect_key = False
        elif depth == 1 and expect_key and token.startswith('"'):
            key = json.loads(token)
            spans[key] = [text.index(":", match.end()) + 1]
    if end is None:
        raise invalid_argument("JSON Parse error: Missing a comma or '}' after an object member.")
    doc = {}
    for name, (begin, *rest) in spans.items():
        if name in READ_KEYS and rest:
            try:
                doc[name] = _DECODER.decode(text[begin : rest[0]])
            except RecursionError:
                raise invalid_argument("JSON Parse error: Document nested too deeply.") from None
            except json.JSONDecodeError as e:
                raise invalid_argument(
                    f"JSON Parse error: {_PARSE_MESSAGES.get(e.msg, e.msg + '.')} at offset: {begin + e.pos}"
                ) from None
        else:
            doc[name] = None  # present, not read
    return doc


def _fast_parse(body: bytes) -> dict | None:
    """orjson when it accepts the document as is (no NaN/Infinity, no trailing data, shallow, 64-bit ints)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def debug_string(value: Any) -> str:
    try:
        text = json.dumps(value, separators=(", ", ": "), allow_nan=True)
    except (RecursionError, ValueError):
        text = "..."
    return text[:_DEBUG_LIMIT]


def json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def signature_name(doc: Mapping[str, Any]) -> str:
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid_argument(
            f"JSON Value: {debug_string(doc)} not formatted correctly. 'signature_name' key must be a string value."
        )
    return name


# ---------------------------------------------------------------- JSON -> numpy


def _type_error(value: Any, dtype: int) -> ServingError:
    return invalid_argument(
        f"JSON Value: {debug_string(value)} Type: {json_type(value)} is not of expected type: {dtype_name(dtype)}"
    )


def decode_b64(value: Any) -> bytes:
    """A `{"b64": ...}` element's bytes, with the official server's errors."""
    if not b64.is_b64(value):
        raise invalid_argument(f"JSON Value: {debug_string(value)} not formatted correctly for base64 data")
    try:
        return b64.decode(value)
    except ValueError:
        raise invalid_argument("Unable to base64 decode") from None


def dense_shape(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if len(shape) > MAX_RANK:
            raise invalid_argument(f"JSON Value: nested deeper than the maximum tensor rank {MAX_RANK}")
        if not value:
            break
        value = value[0]
    return shape


def is_lossless(value: float | int, dtype: int) -> bool:
    """json_tensor.cc's precision rule: an integer must be exact in the float type, a float within its range."""
    if type(value) is int:
        return abs(value) <= _EXACT_INTEGERS[dtype] or _round_trip(value, dtype) == value
    return dtype != types_pb2.DT_FLOAT or not math.isfinite(value) or abs(value) <= _FLOAT_MAX


def _round_trip(value: int, dtype: int) -> float:
    """An integer through the float type and back (NaN when it does not fit at all)."""
    try:
        return int(_FLOATS[dtype](value))
    except (OverflowError, ValueError):
        return math.nan


def _check_leaf(value: Any, dtype: int) -> Any:
    """Validates one scalar for dtype; returns the value to store."""
    if isinstance(value, dict):
        if dtype == types_pb2.DT_STRING:
            return decode_b64(value)
        raise _type_error(value, dtype)
    if dtype in _FLOATS:
        if type(value) not in (float, int):
            raise _type_error(value, dtype)
        if not is_lossless(value, dtype):
            raise invalid_argument(
                f"JSON Value: {debug_string(value)} Type: Number cannot be converted to "
                f"{dtype_name(dtype)} without loss of precision."
            )
        return value
    if dtype in _INT_RANGES:
        low, high, _ = _INT_RANGES[dtype]
        if type(value) is not int or not low <= value <= high:
            raise _type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_STRING:
        if type(value) is not str:
            raise _type_error(value, dtype)
        return value.encode("utf-8")
    if dtype == types_pb2.DT_BOOL:
        if type(value) is not bool:
            raise _type_error(value, dtype)
        return value
    raise ServingError(
        Code.UNIMPLEMENTED, f"Conversion of JSON Value: {debug_string(value)} to type: {dtype_name(dtype)}"
    )


_FAST_TYPES = {
    types_pb2.DT_FLOAT: {float, int},
    types_pb2.DT_DOUBLE: {float, int},
    types_pb2.DT_BOOL: {bool},
}


def _fill_leaves(values: list, dtype: int, out: list) -> None:
    allowed = _FAST_TYPES.get(dtype)
    if (
        allowed is not None
        and set(map(type, values)) <= allowed
        and (dtype not in _FLOATS or all(is_lossless(v, dtype) for v in values))
    ):
        out.extend(values)
        return
    out.extend(_check_leaf(v, dtype) for v in values)


def _fill(value: Any, level: int, shape: list[int], dtype: int, out: list) -> None:
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise invalid_argument(
                f"JSON Value: {debug_string(value)} found at incorrect level: {level + 1} "
                f"in the JSON DOM. Expected at level: {rank}"
            )
        out.append(_check_leaf(value, dtype))
        return
    if level >= rank:
        raise invalid_argument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise invalid_argument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: {shape[level]}"
        )
    if level == rank - 1:
        if any(isinstance(v, list) for v in value):
            raise invalid_argument(f"Encountered list at unexpected level: {level + 1} expected < {rank}")
        _fill_leaves(value, dtype, out)
        return
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def to_numpy(values: list, shape: list[int], dtype: int) -> np.ndarray:
    try:
        return _to_numpy(values, shape, dtype)
    except (OverflowError, ValueError) as e:
        raise invalid_argument(f"JSON Value does not fit type {dtype_name(dtype)}: {e}") from None


def _to_numpy(values: list, shape: list[int], dtype: int) -> np.ndarray:
    if dtype in _FLOATS:
        return np.array(values, dtype=_FLOATS[dtype]).reshape(shape)
    if dtype in _INT_RANGES:
        return np.array(values, dtype=_INT_RANGES[dtype][2]).reshape(shape)
    if dtype == types_pb2.DT_BOOL:
        return np.array(values, dtype=np.bool_).reshape(shape)
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array.reshape(shape)


def _fast_numeric(value: Any, shape: list[int], dtype: int, has_bools: bool) -> np.ndarray | None:
    """numpy's C conversion when the nested lists are dense numbers that the dtype accepts; None otherwise.

    numpy would turn true/false into 1/0 inside a numeric array, so this path is only taken when the
    request body holds no boolean literal at all.
    """
    if has_bools or not shape or (dtype not in _FLOATS and dtype not in _INT_RANGES):
        return None
    try:
        array = np.array(value)
    except (ValueError, OverflowError):
        return None
    if array.ndim != len(shape) or array.dtype.kind not in ("f" if dtype in _FLOATS else "") + "i":
        return None
    if dtype in _FLOATS:
        return array.astype(_FLOATS[dtype]) if _fast_lossless(array, dtype) else None
    low, high, target = _INT_RANGES[dtype]
    if array.size and (array.min() < low or array.max() > high):
        return None
    return array.astype(target)


def _fast_lossless(array: np.ndarray, dtype: int) -> bool:
    """True when no element can break the precision rule; else the per-value path decides (and explains)."""
    if not array.size:
        return True
    exact = _EXACT_INTEGERS[dtype]
    if array.dtype.kind == "i":
        return int(np.abs(array).max()) <= exact
    finite = array[np.isfinite(array)]
    if dtype == types_pb2.DT_FLOAT and finite.size and np.abs(finite).max() > _FLOAT_MAX:
        return False
    # an integral value this large may have been an integer literal: let the exact check see it
    return not np.any((np.abs(finite) >= exact) & (finite == np.round(finite)))


def json_to_array(
    value: Any, dtype: int, has_bools: bool = True, limits: RequestLimits = RequestLimits(), name: str = ""
) -> np.ndarray:
    """One JSON value (scalar or nested lists) to an array of dtype, validated like FillTensorProto."""
    shape = dense_shape(value)
    limits.check_elements(f"Input tensor '{name}'", int(np.prod(shape, dtype=object)) if shape else 1)
    fast = _fast_numeric(value, shape, dtype, has_bools)
    if fast is not None:
        return fast
    out: list = []
    try:
        _fill(value, 0, shape, dtype, out)
    except RecursionError:
        raise invalid_argument("JSON Value nested too deeply") from None
    return to_numpy(out, shape, dtype)


def _shape_text(shape: tuple) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def instances_to_arrays(
    instances: list, input_dtypes: Mapping[str, int], has_bools: bool = True, limits: RequestLimits = RequestLimits()
) -> dict[str, np.ndarray]:
    """Row format: each element one example; all elements batched along a new first dimension."""
    names = sorted(input_dtypes)
    first = instances[0]
    if not (isinstance(first, dict)) and len(names) > 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple "
            "input tensors required as per tensorinfo_map"
        )
    objects = isinstance(first, dict) and not b64.is_b64(first)
    per_input: dict[str, list[np.ndarray]] = {n: [] for n in names}
    shapes: dict[str, tuple] = {}

    def add(item: Any, name: str) -> None:
        if name not in input_dtypes:
            raise invalid_argument(f"JSON object: does not have named input: {name}")
        array = json_to_array(item, input_dtypes[name], has_bools)
        if name not in shapes:
            shapes[name] = array.shape
            limits.check_elements(f"Input tensor '{name}'", len(instances) * array.size)
        elif int(np.prod(shapes[name])) != array.size:
            raise invalid_argument(f"Expecting tensor size: {int(np.prod(shapes[name]))} but got: {array.size}")
        elif shapes[name] != array.shape:
            raise invalid_argument(f"Expecting shape {_shape_text(shapes[name])} but got: {_shape_text(array.shape)}")
        per_input[name].append(array)

    for index, element in enumerate(instances):
        element_is_object = isinstance(element, dict) and not b64.is_b64(element)
        if objects:
            if not element_is_object:
                raise invalid_argument(f"Expecting object but got list at item {index} of input list")
            for key, item in element.items():
                try:
                    add(item, key)
                except ServingError as e:
                    raise invalid_argument(
                        f"Failed to process element: {index} key: {key} of 'instances' list. Error: {e}"
                    ) from None
            if set(element) != set(names):
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{debug_string(element)} keys must be equal to: {','.join(names)}"
                )
        else:
            if element_is_object:
                raise invalid_argument(f"Expecting value/list but got object at item {index} of input list")
            try:
                add(element, names[0])
            except ServingError as e:
                raise invalid_argument(f"Failed to process element: {index} of 'instances' list. Error: {e}") from None
    return {name: np.stack(arrays) for name, arrays in per_input.items() if arrays}


def inputs_to_arrays(
    inputs: Any, input_dtypes: Mapping[str, int], has_bools: bool = True, limits: RequestLimits = RequestLimits()
) -> dict[str, np.ndarray]:
    """Columnar format: one tensor, or an object keyed by input name (extra keys ignored)."""
    names = sorted(input_dtypes)
    if not isinstance(inputs, dict) or b64.is_b64(inputs):
        if len(names) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple "
                "input tensors required as per tensorinfo_map"
            )
        return {names[0]: json_to_array(inputs, input_dtypes[names[0]], has_bools, limits, names[0])}
    arrays = {}
    for name in names:
        if name not in inputs:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = json_to_array(inputs[name], input_dtypes[name], has_bools, limits, name)
    return arrays


def predict_request_arrays(
    doc: Mapping[str, Any],
    input_dtypes: Mapping[str, int],
    has_bools: bool = True,
    limits: RequestLimits = RequestLimits(),
) -> tuple[dict, str]:
    """Returns (inputs, format) where format is 'row' or 'columnar'.

    `has_bools=False` (the body holds no `true`/`false`) lets dense numeric tensors skip the
    per-value checks.
    """
    if not input_dtypes:
        raise invalid_argument(f"Failed to get input map for signature: {doc.get('signature_name') or 'DEFAULT'}")
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise invalid_argument(
            f"JSON Value: {debug_string(doc)} Not formatted correctly expecting only one of "
            "'inputs' or 'instances' keys to exist "
        )
    if has_instances:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise invalid_argument(f"JSON Value: {debug_string(doc)} Expecting 'instances' to be an list/array")
        if not instances:
            raise invalid_argument(f"JSON Value: {debug_string(doc)} No values in 'instances' array")
        return instances_to_arrays(instances, input_dtypes, has_bools, limits), "row"
    if has_inputs:
        return inputs_to_arrays(doc["inputs"], input_dtypes, has_bools, limits), "columnar"
    raise invalid_argument("Missing 'inputs' or 'instances' key")


# ---------------------------------------------------------------- the typed path for large numeric tensors


class TypedRequest:
    """A predict body whose tensors go from JSON text straight into typed numpy arrays.

    simdjson parses the body into its own tape (no Python object per value) and exports each
    nested numeric array to a buffer. It is used only when a tensor is regular, purely numeric and
    provably accepted by the reference path above with the same values; anything else (ragged
    lists, bools, nulls, strings, b64 objects, NaN literals, values the exactness rules must
    look at one by one) returns None and the reference path decides, so errors stay the official ones.
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
            found, fmt = _typed_columns(self._doc["inputs"], input_dtypes, limits), "columnar"
            arrays_in_json = None if found is None else sum(_array_count(shape) for shape, _ in found.values())
        else:
            found, fmt = _typed_instances(self._doc["instances"], input_dtypes), "row"
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
    return "d" if dtype in _FLOATS else "i" if dtype in _INT_RANGES else None


def _typed_columns(inputs: Any, input_dtypes: Mapping[str, int], limits: RequestLimits) -> dict | None:
    """Columnar: one tensor, or an object keyed by input name, in the reference path's order."""
    names = sorted(input_dtypes)
    if isinstance(inputs, simdjson.Array) and len(names) == 1:
        tensor = _typed_tensor(inputs, input_dtypes[names[0]], limits, names[0])
        return None if tensor is None else {names[0]: tensor}
    if not isinstance(inputs, simdjson.Object) or "b64" in inputs:
        return None
    found = {}
    for name in names:
        tensor = _typed_tensor(inputs[name], input_dtypes[name], limits, name) if name in inputs else None
        if tensor is None:
            return None
        found[name] = tensor
    return found


def _typed_instances(instances: Any, input_dtypes: Mapping[str, int]) -> dict | None:
    """Row format: a plain list of examples is one tensor with the batch outside; objects are named rows."""
    if not isinstance(instances, simdjson.Array) or not len(instances):
        return None
    if isinstance(instances[0], simdjson.Object):
        return _typed_rows(instances, input_dtypes)
    if len(input_dtypes) != 1:
        return None
    name = next(iter(input_dtypes))
    tensor = _typed_tensor(instances, input_dtypes[name])
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


def _regular_shape(array: Any) -> tuple | None:
    """The shape dense_shape would infer, when every list at every level but the innermost has it.

    Lists inside the innermost lists are ruled out afterwards by counting '[' in the body."""
    shape, value = [], array
    while isinstance(value, simdjson.Array):
        shape.append(len(value))
        if len(shape) > MAX_RANK or not shape[-1]:
            return None
        value = value[0]
    if isinstance(value, (simdjson.Object, str)) or value is None or isinstance(value, bool):
        return None

    def regular(level: Any, depth: int) -> bool:
        if depth == len(shape) - 1:
            return True
        for child in level:
            if not isinstance(child, simdjson.Array) or len(child) != shape[depth + 1] or not regular(child, depth + 1):
                return False
        return True

    return tuple(shape) if regular(array, 0) else None


def _typed_tensor(value: Any, dtype: int, limits: RequestLimits | None = None, name: str = "") -> tuple | None:
    """(shape, flat buffer) of a regular numeric tensor of a dtype the typed path handles, else None.

    With `limits` the element cap is checked where json_to_array checks it (after the shape, before values)."""
    code = _buffer_code(dtype)
    if code is None or not isinstance(value, simdjson.Array):
        return None
    shape = _regular_shape(value)
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


_CHECK_CHUNK = 1 << 16  # values checked at a time: the checks' temporaries stay under a MB


def _checked(flat: np.ndarray, dtype: int) -> np.ndarray | None:
    """The typed values in dtype when the reference path would store exactly these; None to let it decide."""
    if dtype in _FLOATS:
        for start in range(0, flat.size, _CHECK_CHUNK):
            chunk = flat[start : start + _CHECK_CHUNK]
            if not np.isfinite(chunk).all() or not _fast_lossless(chunk, dtype):
                return None
        target = _FLOATS[dtype]
    else:
        low, high, target = _INT_RANGES[dtype]
        info = np.iinfo(target)
        if flat.size and (flat.min() < max(low, info.min) or flat.max() > min(high, info.max)):
            return None
    return flat.astype(target, copy=not flat.flags.writeable)  # a read-only export is copied once


# ---------------------------------------------------------------- numpy -> JSON text


def _float_tokens(flat: np.ndarray) -> list[str]:
    values = flat.tolist()
    tokens = [f"{v:.6g}" for v in values]
    if not tokens:
        return tokens
    finite = np.isfinite(flat)
    back = np.array(tokens, dtype=np.float64).astype(flat.dtype)
    wrong = np.nonzero(finite & (back != flat))[0]
    digits = "%.9g" if flat.dtype == np.float32 else "%.17g"
    for i in wrong.tolist():
        tokens[i] = digits % values[i]
    for i in np.nonzero(~finite)[0].tolist():
        v = values[i]
        tokens[i] = "NaN" if math.isnan(v) else ("-Infinity" if v < 0 else "Infinity")
    return [t + ".0" if ("." not in t and "e" not in t and t[-1].isdigit()) else t for t in tokens]


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
        return _float_tokens(flat)
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
    return _float_tokens(np.array([value], dtype=dtype))[0]
