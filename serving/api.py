"""The protocol-independent API operations on the manager, in tensorflow.serving request/response protos."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from protocol import tensors
from protocol.generated.tensorflow.core.framework import tensor_pb2
from protocol.generated.tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
)
from protocol.methods import DEFAULT_SIGNATURE, SIGNATURE_DEF_FIELD
from serving.core.lifecycle import VersionStatus
from serving.core.server_core import ServerCore
from serving.deadlines import NO_DEADLINE, Deadline
from serving.limits import RequestLimits
from serving.servable import Servable
from serving.status import invalid_argument


def make_model_spec(
    spec: model_pb2.ModelSpec, name: str, version: int, signature_name: str | None
) -> model_pb2.ModelSpec:
    spec.name = name
    spec.version.value = version
    if signature_name is not None:
        spec.signature_name = signature_name
    return spec


def predict(
    manager: ServerCore,
    request: predict_pb2.PredictRequest,
    as_content: bool = False,
    limits: RequestLimits = RequestLimits(),
    deadline: Deadline = NO_DEADLINE,
) -> predict_pb2.PredictResponse:
    with manager.servable(request.model_spec) as servable:
        return predict_on(servable, request, as_content, limits, deadline)


def predict_on(
    servable: Servable,
    request: predict_pb2.PredictRequest,
    as_content: bool = False,
    limits: RequestLimits = RequestLimits(),
    deadline: Deadline = NO_DEADLINE,
) -> predict_pb2.PredictResponse:
    """Input names are checked against the signature and every tensor's declared size against the limits
    before any input is built; what filling up short fields would build is held in the server-wide
    expansion pool until the answer is made."""
    deadline.check()  # it may have waited for a worker thread
    key = request.model_spec.signature_name or DEFAULT_SIGNATURE
    check_input_names(servable.signature(key).inputs, request.inputs)
    fills = {name: _fill_bytes(name, proto, limits) for name, proto in request.inputs.items()}
    fill = sum(fills.values())
    short = ", ".join(sorted(name for name, size in fills.items() if size))
    limits.check_expansion(f"Filling up input tensors sent with fewer values than their shapes hold ({short})", fill)
    with limits.expanding(fill, deadline):  # until the answer is built: a filled input makes a large answer too
        inputs = {name: _input_array(name, proto, limits) for name, proto in request.inputs.items()}
        outputs = servable.predict(key, inputs, list(request.output_filter), deadline)
        del inputs
        deadline.check()  # nobody waits for the answer any more: do not encode it
        response = predict_pb2.PredictResponse()
        make_model_spec(response.model_spec, request.model_spec.name, servable.version, key)
        for alias in list(outputs):
            try:
                tensors.write(response.outputs[alias], outputs.pop(alias), as_content=as_content)
            except ValueError as e:
                raise invalid_argument(f"cannot write output {alias}: {e}") from None
    return response


def check_input_names(expected: Iterable[str], sent: Iterable[str]) -> None:
    """The request names exactly the signature's inputs (the official message)."""
    expected, sent = set(expected), set(sent)
    if sent != expected:
        raise invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
            f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
            f"Missing but required: {{{','.join(sorted(expected - sent))}}}."
        )


def _fill_bytes(name: str, proto: tensor_pb2.TensorProto, limits: RequestLimits) -> int:
    """What filling `proto` up to its shape would build; its declared shape checked against the limits."""
    try:
        limits.check_elements(f"Input tensor '{name}'", tensors.element_count(tensors.shape_of(proto)))
        return tensors.fill_bytes(proto)
    except ValueError as e:
        raise invalid_argument(f"tensor parsing error: {e}") from None


def _input_array(name: str, proto: tensor_pb2.TensorProto, limits: RequestLimits) -> np.ndarray:
    """A request tensor, checked before it is built; tensor_content becomes a read-only view of the request bytes."""
    try:
        return tensors.to_numpy(proto, copy=False, max_fill_bytes=limits.max_expansion_bytes)
    except ValueError as e:
        raise invalid_argument(f"tensor parsing error: {e}") from None


def get_model_metadata(
    manager: ServerCore, request: get_model_metadata_pb2.GetModelMetadataRequest
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    if not request.HasField("model_spec"):
        raise invalid_argument("Missing ModelSpec")
    if not request.metadata_field:
        raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
    for field in request.metadata_field:
        if field != SIGNATURE_DEF_FIELD:
            raise invalid_argument(f"Metadata field {field} is not supported")
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    with manager.servable(request.model_spec) as servable:
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in servable.signature_defs.items():
            signature_map.signature_def[key].CopyFrom(signature)
        make_model_spec(response.model_spec, servable.name, servable.version, None)
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
    return response


_STATE = get_model_status_pb2.ModelVersionStatus.State


def _version_status(state: VersionStatus) -> get_model_status_pb2.ModelVersionStatus:
    status = get_model_status_pb2.ModelVersionStatus(version=state.version, state=_STATE.Value(state.state))
    status.status.SetInParent()
    if state.error is not None:
        status.status.error_code = state.error.code_number
        status.status.error_message = state.error.message
    return status


def get_model_status(
    manager: ServerCore, request: get_model_status_pb2.GetModelStatusRequest
) -> get_model_status_pb2.GetModelStatusResponse:
    if not request.HasField("model_spec"):
        raise invalid_argument("Missing ModelSpec")
    response = get_model_status_pb2.GetModelStatusResponse()
    for state in manager.version_states(request.model_spec):
        response.model_version_status.append(_version_status(state))
    return response
