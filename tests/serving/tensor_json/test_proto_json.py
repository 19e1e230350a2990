"""serving.tensor_json.proto_json: status and metadata answers as protobuf's C++ JSON printer writes them with
add_whitespace (the official handler's ToJsonString), byte for byte."""

from __future__ import annotations

import json

from protocol.generated.tensorflow.core.framework import types_pb2
from protocol.generated.tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2
from protocol.methods import SIGNATURE_DEF_FIELD
from serving.tensor_json import metadata_json, status_json


def test_status():
    response = get_model_status_pb2.GetModelStatusResponse()
    status = response.model_version_status.add(version=3, state=get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    status.status.SetInParent()  # the server always sets it
    assert status_json(response) == (
        b'{\n "model_version_status": [\n  {\n   "version": "3",\n   "state": "AVAILABLE",\n   "status": {\n'
        b'    "error_code": "OK",\n    "error_message": ""\n   }\n  }\n ]\n}\n'
    )


def test_metadata_is_stitched_from_two_messages():
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = "half_plus_two"
    response.model_spec.version.value = 1
    signatures = get_model_metadata_pb2.SignatureDefMap()
    signature = signatures.signature_def["serving_default"]
    signature.method_name = "tensorflow/serving/predict"
    signature.inputs["x"].name = "x:0"
    signature.inputs["x"].dtype = types_pb2.DT_FLOAT
    signature.inputs["x"].tensor_shape.dim.add(size=-1)
    signature.outputs["y"].name = "<y>\u2028"
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signatures)
    text = metadata_json(response).decode()
    # fields in field-number order (name 1, version 2, signature_name 3), protobuf's escapes (<, >, U+2028)
    assert text.startswith(
        '{\n"model_spec":{\n "name": "half_plus_two",\n "version": "1",\n "signature_name": ""\n}\n,\n'
        '"metadata": {"signature_def": {\n "signature_def": {\n  "serving_default": {\n   "inputs": {\n'
        '    "x": {\n     "name": "x:0",\n     "dtype": "DT_FLOAT",\n     "tensor_shape": {\n      "dim": [\n'
        '       {\n        "size": "-1",\n        "name": ""\n       }\n      ],\n      "unknown_rank": false\n'
        "     }\n    }\n   },\n"
    )
    assert '"name": "\\u003cy\\u003e\\u2028"' in text and text.endswith("}\n}\n}\n")
    body = json.loads(text)
    assert body["metadata"]["signature_def"]["signature_def"]["serving_default"]["outputs"]["y"]["name"] == "<y>\u2028"
