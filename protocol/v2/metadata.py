"""What v2 model metadata says about a TensorFlow SavedModel, and how a client reads it back.

A v2 model has one list of inputs and one of outputs; a SavedModel has signatures, each with its own.
The metadata's `inputs` and `outputs` describe one signature: `serving_default`, or over REST the one
a `signature_name` query parameter names (`GET /v2/models/detr?signature_name=detect_with_threshold`).
Every signature is also in `properties` (gRPC's map<string, string>; the REST answer carries the same
object), so gRPC clients see them all too:

    "signature_name": "serving_default"                          the one inputs/outputs describe
    "version": "3"                                               the version they are of (a label resolved)
    "signature:detect_with_threshold": "{\"inputs\": [...], \"outputs\": [...]}"   one per signature

Tensors are sorted by name (a signature's are a map); a dimension of unknown size is -1, and a tensor of
unknown rank (any shape) is [-1]. Types v2 has no datatype for are named by their DataType ("DT_COMPLEX64").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from protocol.methods import DEFAULT_SIGNATURE
from protocol.v2 import datatypes

PLATFORM = "tensorflow_savedmodel"  # the spec's platform name for a SavedModel
SIGNATURE_PROPERTY = "signature_name"
VERSION_PROPERTY = "version"
SIGNATURE_PREFIX = "signature:"
UNKNOWN_RANK = [-1]


def tensor(name: str, tf_dtype: str, shape: Iterable[int] | None) -> dict[str, Any]:
    """A $metadata_tensor for a signature tensor (`shape` None: unknown rank)."""
    try:
        datatype = datatypes.of_tf(tf_dtype)
    except ValueError:
        datatype = tf_dtype
    return {"name": name, "datatype": datatype, "shape": UNKNOWN_RANK if shape is None else [int(d) for d in shape]}


def model_properties(
    described: str, version: int, signatures: Mapping[str, tuple[list[dict], list[dict]]]
) -> dict[str, str]:
    """The `properties` of a model version: which signature inputs/outputs describe, which version they
    are of, and every signature's tensors."""
    properties = {SIGNATURE_PROPERTY: described, VERSION_PROPERTY: str(version)}
    for name, (inputs, outputs) in sorted(signatures.items()):
        properties[SIGNATURE_PREFIX + name] = json.dumps({"inputs": inputs, "outputs": outputs}, separators=(",", ":"))
    return properties


def signatures_of(document: Mapping[str, Any]) -> dict[str, tuple[list[dict], list[dict]]]:
    """Every signature a metadata answer describes: (inputs, outputs) by name. From `properties` when the
    server lists them there (this project's), else the answer's own inputs and outputs as `serving_default`
    (Triton, KServe: a model is one function)."""
    properties = document.get("properties") or {}
    found = {}
    for key, text in properties.items():
        if key.startswith(SIGNATURE_PREFIX):
            described = json.loads(text)
            found[key[len(SIGNATURE_PREFIX) :]] = (described.get("inputs", []), described.get("outputs", []))
    if not found:
        name = properties.get(SIGNATURE_PROPERTY) or DEFAULT_SIGNATURE
        found[name] = (list(document.get("inputs", [])), list(document.get("outputs", [])))
    return found


def version_of(document: Mapping[str, Any]) -> int | None:
    """The version a metadata answer describes, when the server says (this project's does)."""
    text = str((document.get("properties") or {}).get(VERSION_PROPERTY, ""))
    return int(text) if text.isdigit() else None
