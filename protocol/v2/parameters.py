"""Parameters: the name -> value pairs a v2 request, tensor or requested output carries.

Over REST they are a JSON object of strings, numbers and booleans; over gRPC a map of
`InferParameter` (a oneof of bool, int64, uint64, double and string). The names this project reads:

    signature_name      (request) the SavedModel signature to run; default serving_default. The same
                        name as TF Serving's REST field, and what v2 model metadata describes
    binary_data_size    (REST tensor) bytes of this tensor after the JSON header (`protocol.v2.binary`)
    binary_data         (REST requested output) answer this output as binary data
    binary_data_output  (REST request) answer every output as binary data unless it says otherwise
    timeout             (request) Triton's per-request timeout, in microseconds: tightens the deadline
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SIGNATURE = "signature_name"
BINARY_DATA_SIZE = "binary_data_size"
BINARY_DATA = "binary_data"
BINARY_DATA_OUTPUT = "binary_data_output"
TIMEOUT_US = "timeout"

Value = bool | int | float | str


def value(parameter) -> Value | None:
    """The Python value of an `InferParameter` (None when it holds nothing)."""
    which = parameter.WhichOneof("parameter_choice")
    return None if which is None else getattr(parameter, which)


def to_dict(parameters: Mapping[str, Any]) -> dict[str, Value]:
    """A gRPC parameter map as a plain dict (names with empty parameters left out)."""
    out = {}
    for name, parameter in parameters.items():
        v = value(parameter)
        if v is not None:
            out[name] = v
    return out


def fill(parameter, v: Value) -> None:
    """Set an empty `InferParameter` to `v` (bool before int: a bool is an int in Python)."""
    if isinstance(v, bool):
        parameter.bool_param = v
    elif isinstance(v, int):
        if v >= 1 << 63:
            parameter.uint64_param = v
        else:
            parameter.int64_param = v
    elif isinstance(v, float):
        parameter.double_param = v
    elif isinstance(v, str):
        parameter.string_param = v
    else:
        raise ValueError(f"a parameter is a bool, int, float or str, not {type(v).__name__}")


def read(parameters: Mapping[str, Value] | None, name: str, kind: type, what: str) -> Any:
    """The parameter `name` if given, checked to be of `kind` (bool is no int here); None if absent."""
    if not parameters or name not in parameters:
        return None
    v = parameters[name]
    if isinstance(v, bool) != (kind is bool) or not isinstance(v, kind):
        raise ValueError(f"{what}: parameter {name!r} must be {_KIND_NAMES.get(kind, kind.__name__)}, got {v!r}")
    return v


_KIND_NAMES = {bool: "a boolean", int: "an integer", str: "a string", float: "a number"}


def check_object(parameters: Any, what: str) -> dict[str, Value]:
    """A JSON `parameters` member: an object of strings, numbers and booleans (absent: empty)."""
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise ValueError(f"{what}: 'parameters' must be an object, got {type(parameters).__name__}")
    for name, v in parameters.items():
        if not isinstance(v, (bool, int, float, str)):
            raise ValueError(f"{what}: parameter {name!r} must be a string, number or boolean, got {v!r}")
    return parameters
