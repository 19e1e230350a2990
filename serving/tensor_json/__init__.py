"""JSON <-> tensors with the rules of tensorflow_serving/util/json_tensor.cc, and the REST answers' text.

- document: the request body parsed as the official server parses it (rapidjson's leniency and messages);
- numbers: which JSON numbers each dtype takes, what they become, how floats are written;
- request: row (`instances`) and columnar (`inputs`) bodies into numpy arrays, with the official checks;
- typed: the same for large regular numeric tensors, straight from the text into typed arrays;
- budget: how many values a body holds, counted before anything is built from it;
- writer, response, proto_json: answers byte for byte as the official server writes them.
"""

from serving.tensor_json.budget import check_values
from serving.tensor_json.document import json_type, parse_document, signature_name, text_bytes
from serving.tensor_json.proto_json import metadata_json, status_json
from serving.tensor_json.request import decode_b64, may_hold_bools, predict_request_arrays
from serving.tensor_json.response import classify_json, error_json, predict_response_json, regress_json
from serving.tensor_json.typed import TypedRequest
from serving.tensor_json.writer import debug_string

__all__ = [
    "TypedRequest",
    "check_values",
    "classify_json",
    "debug_string",
    "decode_b64",
    "error_json",
    "json_type",
    "may_hold_bools",
    "metadata_json",
    "parse_document",
    "predict_request_arrays",
    "predict_response_json",
    "regress_json",
    "signature_name",
    "status_json",
    "text_bytes",
]
