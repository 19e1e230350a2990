"""What a served model says about itself: its signatures (names, dtypes, shapes) and version states.

Both transports end up with the same JSON-shaped documents (REST returns them directly, gRPC
protos go through `json_format.MessageToDict` with proto field names), so one parser serves both,
for each protocol: `parse_metadata` reads TF Serving's, `parse_v2_metadata` the Open Inference
Protocol's (its datatypes named as DataTypes, so the rest of the clients see one kind of signature).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from clients.errors import ServingError
from protocol import dtypes
from protocol.v2 import datatypes as v2_datatypes
from protocol.v2 import metadata as v2_metadata

Inputs = Mapping[str, Any] | np.ndarray | Sequence[Any]


@dataclass(frozen=True)
class TensorInfo:
    """One named input or output of a signature. `shape` is None for unknown rank, -1 for unknown dims."""

    name: str
    dtype: str
    shape: tuple[int, ...] | None

    @property
    def numpy_dtype(self) -> np.dtype:
        try:
            return dtypes.numpy_dtype(self.dtype)
        except ValueError as e:
            raise ValueError(f"tensor {self.name!r}: {e}") from None


@dataclass(frozen=True)
class Signature:
    name: str
    method_name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]


@dataclass(frozen=True)
class ModelMetadata:
    model: str
    version: int
    signatures: dict[str, Signature]

    def signature(self, name: str) -> Signature:
        try:
            return self.signatures[name]
        except KeyError:
            raise ServingError(
                "FAILED_PRECONDITION",
                f'Serving signature name: "{name}" not found in signature def (model {self.model} has '
                f"{sorted(self.signatures)})",
            ) from None


@dataclass(frozen=True)
class VersionStatus:
    version: int
    state: str
    error_code: str
    error_message: str


def _tensor_info(alias: str, doc: Mapping[str, Any]) -> TensorInfo:
    shape_doc = doc.get("tensor_shape", {})
    if shape_doc.get("unknown_rank"):
        shape = None
    else:
        shape = tuple(int(d.get("size", -1)) for d in shape_doc.get("dim", []))
    return TensorInfo(name=alias, dtype=doc.get("dtype", "DT_INVALID"), shape=shape)


def parse_metadata(doc: Mapping[str, Any]) -> ModelMetadata:
    """Parse a GetModelMetadata answer (REST JSON, or the gRPC proto as a dict)."""
    spec = doc.get("model_spec", {})
    sig_map = doc.get("metadata", {}).get("signature_def", {}).get("signature_def", {})
    signatures = {
        key: Signature(
            name=key,
            method_name=sig.get("method_name", ""),
            inputs={k: _tensor_info(k, v) for k, v in sig.get("inputs", {}).items()},
            outputs={k: _tensor_info(k, v) for k, v in sig.get("outputs", {}).items()},
        )
        for key, sig in sig_map.items()
    }
    return ModelMetadata(model=spec.get("name", ""), version=int(spec.get("version", 0)), signatures=signatures)


def _v2_tensor_info(doc: Mapping[str, Any]) -> TensorInfo:
    datatype = doc.get("datatype", "")
    try:
        dtype = v2_datatypes.to_tf(datatype)
    except ValueError:
        dtype = datatype or "DT_INVALID"
    return TensorInfo(name=doc.get("name", ""), dtype=dtype, shape=tuple(int(d) for d in doc.get("shape", [])))


def parse_v2_metadata(doc: Mapping[str, Any], version: int | None = None) -> ModelMetadata:
    """Parse a v2 model metadata answer (REST JSON, or the gRPC message as a dict): its version is the
    one the server says it describes, else the one asked for, else the latest of those it lists."""
    signatures = {
        name: Signature(
            name=name,
            method_name="",
            inputs={t.name: t for t in map(_v2_tensor_info, inputs)},
            outputs={t.name: t for t in map(_v2_tensor_info, outputs)},
        )
        for name, (inputs, outputs) in v2_metadata.signatures_of(doc).items()
    }
    version = v2_metadata.version_of(doc) or version
    if version is None:
        version = max((int(v) for v in doc.get("versions", []) if str(v).isdigit()), default=0)
    return ModelMetadata(model=doc.get("name", ""), version=version, signatures=signatures)


def parse_status(doc: Mapping[str, Any]) -> list[VersionStatus]:
    """Parse a GetModelStatus answer; fields left out by proto-to-JSON mean their defaults."""
    return [
        VersionStatus(
            version=int(entry.get("version", 0)),
            state=entry.get("state", "UNKNOWN"),
            error_code=entry.get("status", {}).get("error_code", "OK"),
            error_message=entry.get("status", {}).get("error_message", ""),
        )
        for entry in doc.get("model_version_status", [])
    ]


def named_inputs(inputs: Inputs, signature: Signature) -> dict[str, Any]:
    """A bare tensor is accepted for a single-input signature; otherwise a mapping by input name."""
    if isinstance(inputs, Mapping):
        return dict(inputs)
    if len(signature.inputs) != 1:
        raise ValueError(f"signature {signature.name!r} has inputs {sorted(signature.inputs)}: pass a dict")
    return {next(iter(signature.inputs)): inputs}
