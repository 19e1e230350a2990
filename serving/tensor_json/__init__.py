"""JSON <-> tensors with the rules of tensorflow_serving/util/json_tensor.cc.

Requests: row (`instances`) and columnar (`inputs`) formats, `{"b64": ...}` strings, strict
per-dtype value checks (integers reject 1.0, bools only true/false), NaN/Infinity literals.
Responses: floats as the official server writes them (six significant digits when that
round-trips, else full precision; `.0` on integral values; NaN, Infinity, -Infinity), strings
whose output name ends in `_bytes` as `{"b64": ...}`.
"""

from serving.tensor_json.document import debug_string, json_type, parse_document, signature_name
from serving.tensor_json.numbers import is_lossless
from serving.tensor_json.request import decode_b64, predict_request_arrays
from serving.tensor_json.response import float_json, predict_response_json
from serving.tensor_json.typed import TypedRequest

__all__ = [
    "TypedRequest",
    "debug_string",
    "decode_b64",
    "float_json",
    "is_lossless",
    "json_type",
    "parse_document",
    "predict_request_arrays",
    "predict_response_json",
    "signature_name",
]
