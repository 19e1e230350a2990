"""What the Open Inference Protocol's two front ends (v2_rest, v2_grpc) share, on serving/ops: a model
addressed by name and version string, the server's and a model's metadata, readiness, the infer call and
its answer's tensors, and the repository extension.

A v2 model is a TF Serving model and its versions are the same versions; a label stands where a version
does (`/v2/models/detr/versions/stable`), as TF Serving allows labels. An inference runs one signature:
`serving_default`, or the one the request's `signature_name` parameter names (protocol/v2/parameters.py),
on the one predict path (serving/ops/predict.py): the same loaded versions, batching, admission, deadlines,
request limits and metrics as TF Serving's API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata as package_metadata
from typing import Any, TypeVar

import numpy as np

from protocol import dtypes
from protocol.generated.tensorflow_serving.apis import model_pb2
from protocol.methods import DEFAULT_SIGNATURE
from protocol.v2 import datatypes, parameters, paths, raw
from protocol.v2 import metadata as v2_metadata
from serving import management
from serving.core.server_core import ServerCore
from serving.deadlines import Deadline
from serving.errors import Code, ServingError, invalid_argument
from serving.ops import model_info, repository
from serving.ops.predict import ArrayPredict, Prediction, predict
from serving.request_limits import RequestLimits

T = TypeVar("T")

SERVER_NAME = "keras-to-serving"
BINARY_TENSOR_DATA, MODEL_REPOSITORY = "binary_tensor_data", "model_repository"
EXTENSIONS = (BINARY_TENSOR_DATA, MODEL_REPOSITORY)


def server_version() -> str:
    try:
        return package_metadata.version(SERVER_NAME)
    except package_metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0.1.0"


def server_metadata() -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": server_version(), "extensions": list(EXTENSIONS)}


def model_spec(name: str, version: str) -> model_pb2.ModelSpec:
    """The ModelSpec of a v2 address: digits are a version number, other text a label, none the latest."""
    if not name:
        raise invalid_argument("A model name is required")
    try:
        number, label = paths.version_or_label(version)
    except ValueError as e:
        raise invalid_argument(str(e)) from None
    spec = model_pb2.ModelSpec(name=name)
    if number is not None:
        spec.version.value = number
    elif label is not None:
        spec.version_label = label
    return spec


def type_name(tf_name: str) -> str:
    """A DataType in the protocol's words: FP32 for DT_FLOAT (the DataType's own name where v2 has none)."""
    try:
        return datatypes.of_tf(tf_name)
    except ValueError:
        return tf_name


# ------------------------------------------------------------------ metadata and readiness


def _tensors(infos: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        v2_metadata.tensor(
            name,
            dtypes.name_of(info.dtype),
            None if info.tensor_shape.unknown_rank else [d.size for d in info.tensor_shape.dim],
        )
        for name, info in sorted(infos.items())
    ]


def model_metadata(core: ServerCore, name: str, version: str, signature: str = "") -> dict[str, Any]:
    """$metadata_model_response: the inputs and outputs of one signature (serving_default unless named),
    every signature in `properties` (protocol/v2/metadata.py), the versions available."""
    key = signature or DEFAULT_SIGNATURE
    with core.servable(model_spec(name, version)) as servable:
        described = {
            k: (_tensors(s.inputs), _tensors(s.outputs))
            for k, s in servable.signature_defs.items()
            if not k.startswith("__")  # __saved_model_init_op and the like: not callable signatures
        }
        number = servable.version
    if key not in described:
        raise invalid_argument(
            f'Serving signature name: "{key}" not found in signature def (model {name} has '
            f"{', '.join(sorted(described))})"
        )
    inputs, outputs = described[key]
    return {
        "name": name,
        "versions": [str(v) for v in model_info.available_versions(core, name)],
        "platform": v2_metadata.PLATFORM,
        "inputs": inputs,
        "outputs": outputs,
        "properties": v2_metadata.model_properties(key, number, described),
    }


def model_ready(core: ServerCore, name: str, version: str) -> bool:
    """Whether the addressed version can run now; NOT_FOUND for a model not served here."""
    return model_info.model_ready(core, model_spec(name, version))


def server_ready(core: ServerCore, stopping: bool) -> bool:
    """Ready for inference: not shutting down, and every model of the config in force has a version AVAILABLE."""
    return not stopping and model_info.all_models_ready(core)


# ------------------------------------------------------------------ inference


def declared(name: str, datatype: Any, shape: Any, limits: RequestLimits) -> tuple[str, tuple[int, ...]]:
    """An input tensor's datatype and shape, checked before its data is read: a known datatype, a valid
    shape, and at most --max_tensor_elements elements."""
    what = f"input '{name}'"
    try:
        kind = datatypes.get(datatype)
        dims = raw.check_shape(shape, what)
    except ValueError as e:
        raise invalid_argument(f"{what}: {e}" if not str(e).startswith(what) else str(e)) from None
    limits.check_elements(f"Input tensor '{name}'", raw.element_count(dims))
    return kind.name, dims


def signature_of(request_parameters: Mapping[str, Any] | None) -> str:
    try:
        return parameters.read(request_parameters, parameters.SIGNATURE, str, "request") or ""
    except ValueError as e:
        raise invalid_argument(str(e)) from None


def timeout_of(request_parameters: Mapping[str, Any] | None) -> float | None:
    """A request's `timeout` parameter (Triton's, in microseconds) in seconds; None when absent or 0. It
    tightens the transport's deadline, never loosens it."""
    try:
        timeout_us = parameters.read(request_parameters, parameters.TIMEOUT_US, int, "request")
    except ValueError as e:
        raise invalid_argument(str(e)) from None
    if timeout_us is not None and timeout_us < 0:
        raise invalid_argument(f"parameter 'timeout' must be >= 0 microseconds, got {timeout_us}")
    return timeout_us / 1e6 if timeout_us else None


def infer(
    core: ServerCore,
    name: str,
    version: str,
    signature: str,
    arrays: dict[str, np.ndarray],
    output_filter: Sequence[str],
    deadline: Deadline,
    limits: RequestLimits,
    encode: Callable[[Prediction], T],
    on_loop: bool = False,
) -> T:
    """One inference on the predict path; `encode` turns the prediction into the front end's answer.
    `on_loop`: never wait (for a batch, a place to run, a signature not quick lately): WouldWait instead."""
    if len(set(output_filter)) != len(output_filter):
        raise invalid_argument(f"outputs are requested more than once: {sorted(output_filter)}")
    spec = model_spec(name, version)
    call = ArrayPredict(spec, signature, arrays, tuple(output_filter), deadline, limits, type_name, on_loop)
    return predict(core, call, encode, wait=not on_loop)


def answer_order(prediction: Prediction, requested: Sequence[str]) -> list[str]:
    """Outputs in the order the request named them, else sorted by name (a signature's outputs are a map)."""
    return list(requested) if requested else sorted(prediction.outputs)


def output_datatype(name: str, array: np.ndarray) -> str:
    try:
        return datatypes.of_numpy(array.dtype)
    except ValueError:
        raise ServingError(
            Code.UNIMPLEMENTED,
            f"output '{name}' is {dtypes.datatype_name(array.dtype)}, which the Open Inference Protocol cannot "
            "carry; call it through TF Serving's API",
        ) from None


# ------------------------------------------------------------------ the repository extension


def repository_index(core: ServerCore, ready_only: bool) -> list[dict[str, str]]:
    return [
        {"name": e.name, "version": e.version, "state": e.state, "reason": e.reason}
        for e in repository.index(core, ready_only)
    ]


def repository_change(
    core: ServerCore, name: str, load: bool, peer: str, mode: str, settings: Iterable[str], timeout: float | None
) -> None:
    """Load or unload `name` for a client at `peer`, as --model_management allows; the load parameters of
    Triton's own model configs and files have no meaning here and are refused."""
    management.check_reload_allowed(mode, peer, "The model repository extension's load and unload")
    unsupported = sorted(s for s in settings if s == "config" or s.startswith("file:"))
    if unsupported:
        raise invalid_argument(
            f"{', '.join(unsupported)}: this server loads models from its model config, not from a config or "
            "files sent with the request"
        )
    if load:
        repository.load(core, name, timeout)
    else:
        repository.unload(core, name, timeout)
