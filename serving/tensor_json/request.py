"""JSON values -> numpy arrays for a predict request (FillPredictRequestFromJson): row and columnar formats."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from protocol import b64
from protocol.dtypes import type_name as dtype_name
from protocol.generated.tensorflow.core.framework import types_pb2
from serving.errors import Code, ServingError, invalid_argument
from serving.request_limits import RequestLimits
from serving.tensor_json.document import json_type, text_bytes
from serving.tensor_json.numbers import FLOATS, INTEGERS, in_range, takes_integer, to_floats, to_integers
from serving.tensor_json.writer import debug_string

MAX_RANK = 254


def type_error(value: Any, dtype: int) -> ServingError:
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


def _check_leaf(value: Any, dtype: int) -> Any:
    """Validates one scalar for dtype (AddValueToTensor); returns the value to store."""
    if isinstance(value, dict):
        if dtype == types_pb2.DT_STRING:
            return decode_b64(value)
        raise type_error(value, dtype)
    if dtype in FLOATS:
        if type(value) not in (float, int):
            raise type_error(value, dtype)
        return value
    if dtype in INTEGERS:
        if not takes_integer(value, dtype):
            raise type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_STRING:
        if type(value) is not str:
            raise type_error(value, dtype)
        return text_bytes(value)
    if dtype == types_pb2.DT_BOOL:
        if type(value) is not bool:
            raise type_error(value, dtype)
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
    """One innermost list: a whole list of acceptable types at once, else value by value (for the error)."""
    types = set(map(type, values))
    if types <= _FAST_TYPES.get(dtype, set()) or (
        dtype in INTEGERS and types == {int} and in_range(np.array(values, dtype=object), dtype)
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
    """Checked values (_check_leaf) as the tensor: numbers converted by the number rules."""
    if dtype in FLOATS:
        return to_floats(values, dtype).reshape(shape)
    if dtype in INTEGERS:
        return to_integers(values, dtype).reshape(shape)
    if dtype == types_pb2.DT_BOOL:
        return np.array(values, dtype=np.bool_).reshape(shape)
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array.reshape(shape)


def _fast_numeric(value: Any, shape: list[int], dtype: int, has_bools: bool) -> np.ndarray | None:
    """numpy's C conversion when the nested lists are dense numbers that the dtype takes; None otherwise.

    numpy would turn true/false into 1/0 inside a numeric array, so this path is only taken when the
    request body holds no boolean literal at all.
    """
    if has_bools or not shape or (dtype not in FLOATS and dtype not in INTEGERS):
        return None
    try:
        array = np.array(value)
    except (ValueError, OverflowError):
        return None
    if array.ndim != len(shape) or array.dtype.kind not in ("fiu" if dtype in FLOATS else "iu"):
        return None
    if dtype in FLOATS:
        return to_floats(array, dtype)
    return to_integers(array, dtype) if in_range(array, dtype) else None


def may_hold_bools(body: bytes, input_dtypes: Mapping[str, int]) -> bool:
    """The `has_bools` of a body: whether a `true`/`false` could reach a numeric input. Only numeric inputs
    care, so a body for string inputs alone is not scanned (two scans of a 140 KB b64 JPEG took ~0.2 ms)."""
    if not any(dtype in FLOATS or dtype in INTEGERS for dtype in input_dtypes.values()):
        return False
    return b"true" in body or b"false" in body


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
