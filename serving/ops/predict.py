"""Predict: the one path below every front end, numpy in and numpy out.

A front end hands over a PredictCall (its request, decoded no further than it must be) and an `encode` for
the answer. Here the servable is found and held, the input names and sizes are checked before anything is
built, what building costs beyond the request is held in the server-wide budget until the answer is
encoded, the signature runs (batching, admission and the deadline included) and the answer is encoded only
while someone still waits for it. TF Serving's own request, `PredictRequest`, is one such call
(`ProtoPredict`): the gRPC API, warmup replay and request logs use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np

from protocol import dtypes, tensors
from protocol.generated.tensorflow.core.framework import tensor_pb2
from protocol.generated.tensorflow_serving.apis import model_pb2, predict_pb2
from protocol.methods import DEFAULT_SIGNATURE
from serving import tracing
from serving.core.server_core import ServerCore
from serving.deadlines import NO_DEADLINE, Deadline
from serving.errors import invalid_argument
from serving.logs.request_logger import RequestLogger
from serving.ops import observe, request_log
from serving.ops.model_info import make_model_spec
from serving.request_limits import RequestLimits
from serving.servable import Servable, WouldWait

T = TypeVar("T")


@dataclass
class Prediction:
    """What a signature run answered, and which version and signature answered it."""

    model: str  # the name the request used
    version: int
    signature: str
    outputs: dict[str, np.ndarray]


class PredictCall(Protocol):
    """A request on its way to a model, as a front end decoded it."""

    spec: model_pb2.ModelSpec  # name and version or label; its signature_name is not used
    signature: str  # "" for serving_default
    output_filter: Sequence[str]
    deadline: Deadline
    limits: RequestLimits

    def check(self, servable: Servable, key: str) -> int:
        """Checks what can be checked before any input is built (names, declared sizes) and returns the bytes
        building the inputs takes beyond what the request carried."""

    def inputs(self, servable: Servable, key: str) -> Mapping[str, np.ndarray]:
        """The input arrays, in the signature's dtypes."""


def predict(core: ServerCore, call: PredictCall, encode: Callable[[Prediction], T], wait: bool = True) -> T:
    """Finds and holds the servable the call names, then `predict_on`, logging the request when the model's
    logging_config samples it."""
    call.deadline.check()  # it may have waited for a worker thread
    with core.servable(call.spec) as servable:
        return predict_on(servable, call, encode, wait, core.request_logs.logger(call.spec.name))


def predict_on(
    servable: Servable,
    call: PredictCall,
    encode: Callable[[Prediction], T],
    wait: bool = True,
    logger: RequestLogger | None = None,
) -> T:
    """Runs `call` on `servable` and encodes the answer. `wait=False` raises servable.WouldWait instead of
    waiting for a batch or for a place to run. With a `logger`, a sampled request is logged once answered."""
    key = call.signature or DEFAULT_SIGNATURE
    observe.annotate(servable.version, key)
    expansion = call.check(servable, key)
    with call.limits.expanding(expansion, call.deadline):  # until the answer is built: filled inputs, large answer
        with tracing.span("decode"):
            inputs = call.inputs(servable, key)
        outputs = servable.predict(key, inputs, call.output_filter, call.deadline, wait)
        entry = None
        if logger is not None and logger.sampled():
            entry = _log_entry(servable, call, key, inputs, outputs, logger.options.max_record_bytes)
        del inputs
        call.deadline.check()  # nobody waits for the answer any more: do not encode it
        with tracing.span("encode"):
            answer = encode(Prediction(call.spec.name, servable.version, key, outputs))
        if entry is not None:
            logger.log(entry)
        return answer


def _log_entry(servable: Servable, call: PredictCall, key: str, inputs, outputs, limit: int) -> request_log.Entry:
    """What the request log keeps of an answered predict: references, sized now, built later."""
    kept = dict(outputs)  # encode moves outputs out of their dict as it writes them
    request = call.request if isinstance(call, ProtoPredict) else None
    return request_log.predict_entry(
        call.spec,
        servable.version,
        key,
        request,
        inputs,
        call.output_filter,
        kept,
        lambda: response_proto(Prediction(call.spec.name, servable.version, key, dict(kept)), as_content=True),
        limit,
    )


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


def check_input_shape(name: str, shape: Sequence[int], signature_shape) -> None:
    """A shape fits the signature's (a TensorShapeProto): the same rank and every known dimension, unless the
    signature leaves the rank unknown."""
    if signature_shape.unknown_rank:
        return
    dims = [d.size for d in signature_shape.dim]
    if len(shape) != len(dims) or any(d >= 0 and d != s for d, s in zip(dims, shape)):
        raise invalid_argument(
            f"input '{name}' has shape {list(shape)}, incompatible with the signature shape {dims} (-1: any size)"
        )


@dataclass
class ArrayPredict:
    """A call whose inputs the front end decoded into arrays already (the Open Inference Protocol's tensors:
    raw bytes are read-only views of the request, JSON data was parsed with the body), checked against the
    signature's input names, dtypes and shapes before the run; it builds nothing more. `type_name` names a
    DataType ("DT_FLOAT") in the front end's words. `on_loop`: the caller holds an event loop and runs the call
    with wait=False; a signature that did not run quickly lately raises WouldWait before anything runs."""

    spec: model_pb2.ModelSpec
    signature: str
    arrays: dict[str, np.ndarray]
    output_filter: Sequence[str] = ()
    deadline: Deadline = NO_DEADLINE
    limits: RequestLimits = field(default_factory=RequestLimits)
    type_name: Callable[[str], str] = str
    on_loop: bool = False

    def check(self, servable: Servable, key: str) -> int:
        if self.on_loop and not servable.runs_quickly(key):
            raise WouldWait
        signature = servable.signature(key)
        check_input_names(signature.inputs, self.arrays)
        for name, info in signature.inputs.items():
            array = self.arrays[name]
            expected, sent = dtypes.name_of(info.dtype), dtypes.datatype_name(array.dtype)
            if sent != expected:
                raise invalid_argument(
                    f"input '{name}' is {self.type_name(sent)}, signature '{key}' takes {self.type_name(expected)}"
                )
            check_input_shape(name, array.shape, info.tensor_shape)
        return 0

    def inputs(self, servable: Servable, key: str) -> dict[str, np.ndarray]:
        return self.arrays


@dataclass
class ProtoPredict:
    """A tensorflow.serving.PredictRequest as a PredictCall: tensor_content becomes a read-only view of the
    request's bytes, and short typed fields are filled up within the request's budget."""

    request: predict_pb2.PredictRequest
    deadline: Deadline = NO_DEADLINE
    limits: RequestLimits = field(default_factory=RequestLimits)

    @property
    def spec(self) -> model_pb2.ModelSpec:
        return self.request.model_spec

    @property
    def signature(self) -> str:
        return self.request.model_spec.signature_name

    @property
    def output_filter(self) -> Sequence[str]:
        return list(self.request.output_filter)

    def check(self, servable: Servable, key: str) -> int:
        check_input_names(servable.signature(key).inputs, self.request.inputs)
        fills = {name: self._fill_bytes(name, proto) for name, proto in self.request.inputs.items()}
        short = ", ".join(sorted(name for name, size in fills.items() if size))
        total = sum(fills.values())
        self.limits.check_expansion(
            f"Filling up input tensors sent with fewer values than their shapes hold ({short})", total
        )
        return total

    def _fill_bytes(self, name: str, proto: tensor_pb2.TensorProto) -> int:
        try:
            self.limits.check_elements(f"Input tensor '{name}'", tensors.element_count(tensors.shape_of(proto)))
            return tensors.fill_bytes(proto)
        except ValueError as e:
            raise invalid_argument(f"tensor parsing error: {e}") from None

    def inputs(self, servable: Servable, key: str) -> dict[str, np.ndarray]:
        arrays = {}
        for name, proto in self.request.inputs.items():
            try:
                arrays[name] = tensors.to_numpy(proto, copy=False, max_fill_bytes=self.limits.max_expansion_bytes)
            except ValueError as e:
                raise invalid_argument(f"tensor parsing error: {e}") from None
        return arrays


def response_proto(prediction: Prediction, as_content: bool = False) -> predict_pb2.PredictResponse:
    """The PredictResponse for a prediction; outputs are moved out of it as they are written."""
    response = predict_pb2.PredictResponse()
    make_model_spec(response.model_spec, prediction.model, prediction.version, prediction.signature)
    for alias in list(prediction.outputs):
        try:
            tensors.write(response.outputs[alias], prediction.outputs.pop(alias), as_content=as_content)
        except ValueError as e:
            raise invalid_argument(f"cannot write output {alias}: {e}") from None
    return response


def predict_request(
    core: ServerCore,
    request: predict_pb2.PredictRequest,
    as_content: bool = False,
    limits: RequestLimits = RequestLimits(),
    deadline: Deadline = NO_DEADLINE,
) -> predict_pb2.PredictResponse:
    """TF Serving's Predict: a PredictRequest in, a PredictResponse out."""
    return predict(core, ProtoPredict(request, deadline, limits), lambda p: response_proto(p, as_content))
