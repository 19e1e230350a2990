"""GetModelMetadata and GetModelStatus, readiness, and the ModelSpec every answer names."""

from __future__ import annotations

from protocol.generated.tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2
from protocol.methods import SIGNATURE_DEF_FIELD
from serving.core.lifecycle import VersionStatus
from serving.core.server_core import ServerCore
from serving.errors import Code, ServingError, invalid_argument, not_found


def make_model_spec(
    spec: model_pb2.ModelSpec, name: str, version: int, signature_name: str | None
) -> model_pb2.ModelSpec:
    spec.name = name
    spec.version.value = version
    if signature_name is not None:
        spec.signature_name = signature_name
    return spec


def get_model_metadata(
    core: ServerCore, request: get_model_metadata_pb2.GetModelMetadataRequest
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    if not request.HasField("model_spec"):
        raise invalid_argument("Missing ModelSpec")
    if not request.metadata_field:
        raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
    for field in request.metadata_field:
        if field != SIGNATURE_DEF_FIELD:
            raise invalid_argument(f"Metadata field {field} is not supported")
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    with core.servable(request.model_spec) as servable:
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
    core: ServerCore, request: get_model_status_pb2.GetModelStatusRequest
) -> get_model_status_pb2.GetModelStatusResponse:
    if not request.HasField("model_spec"):
        raise invalid_argument("Missing ModelSpec")
    response = get_model_status_pb2.GetModelStatusResponse()
    for state in core.version_states(request.model_spec):
        response.model_version_status.append(_version_status(state))
    return response


def model_ready(core: ServerCore, spec: model_pb2.ModelSpec) -> bool:
    """Whether the version `spec` names (its latest when it names none) is AVAILABLE now. NOT_FOUND for a
    model the server does not serve; a label it does not know is INVALID_ARGUMENT, as for a request."""
    try:
        with core.servable(spec):
            return True
    except ServingError as e:
        if e.code != Code.NOT_FOUND:
            raise
        if spec.name not in core.model_names():
            raise not_found(f"Model {spec.name} is not served here") from None
        return False


def all_models_ready(core: ServerCore) -> bool:
    """Whether every model of the config in force has a version AVAILABLE."""
    return all(model_ready(core, model_pb2.ModelSpec(name=name)) for name in core.model_names())


def available_versions(core: ServerCore, name: str) -> list[int]:
    """The model's AVAILABLE versions, oldest first; NOT_FOUND when it has none in any state."""
    states = core.version_states(model_pb2.ModelSpec(name=name))
    return sorted(s.version for s in states if s.state == "AVAILABLE")


def most_inputs(core: ServerCore, spec: model_pb2.ModelSpec) -> int:
    """The most inputs a signature of the addressed version takes (a request's signature may not be read yet)."""
    with core.servable(spec) as servable:
        return max((len(signature.inputs) for signature in servable.signature_defs.values()), default=1)
