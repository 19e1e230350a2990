"""Answered requests as their request-log records hold them (PredictionLog: predict, classify, regress and
multi-inference logs with their metadata), for the model's RequestLogger (serving/logs/request_logger.py).

On the request thread an Entry only sizes what the record would hold, from arrays and messages the request
has anyway (array sizes, tensor payload lengths, the examples' own sizes: nothing is serialized, and sizing
stops once past the limit) and keeps references to them; the record is built and serialized on the
collector's thread. REST requests are logged as the message they are equivalent to: a predict body as the
PredictRequest of its arrays (tensor_content for numbers, string_val for strings), classify and regress
bodies as the Classification/RegressionRequest the front end built; gRPC requests as received.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from google.protobuf.message import Message

from protocol import tensors
from protocol.generated.tensorflow.core.framework import tensor_pb2
from protocol.generated.tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
from serving.ops.model_info import make_model_spec

_SAMPLE_ITEMS = 256  # repeated messages past this many are sized from a sample of them


@dataclass
class Entry:
    """One answered request: `size` (about the bytes its record holds), `model` (for the log metrics), and how
    to build the record."""

    model: str
    version: int
    signature: str
    kind: str  # predict_log, classify_log, regress_log, multi_inference_log
    size: int
    request: Message | Callable[[], Message]
    response: Message | Callable[[], Message]

    def record(self) -> prediction_log_pb2.PredictionLog:
        record = prediction_log_pb2.PredictionLog()
        make_model_spec(record.log_metadata.model_spec, self.model, self.version, self.signature)
        log = getattr(record, self.kind)
        log.request.CopyFrom(self.request() if callable(self.request) else self.request)
        log.response.CopyFrom(self.response() if callable(self.response) else self.response)
        return record


def array_bytes(array: np.ndarray, limit: int) -> int:
    """About the bytes `array` takes in a TensorProto; counting stops past `limit`."""
    if array.dtype.kind not in "OSU":
        return int(array.nbytes)
    total = 0
    for value in array.reshape(-1):
        total += len(value) + 2 if isinstance(value, (bytes, str)) else 16
        if total > limit:
            break
    return total


def tensor_proto_bytes(proto: tensor_pb2.TensorProto, limit: int) -> int:
    """About the bytes of a TensorProto on the wire (its payload fields' lengths; no serialization)."""
    total = len(proto.tensor_content) + 8 * (
        len(proto.float_val) + len(proto.double_val) + len(proto.int_val) + len(proto.int64_val)
    )
    total += 4 * (len(proto.half_val) + len(proto.bool_val) + len(proto.uint32_val)) + 8 * len(proto.uint64_val)
    total += 8 * (len(proto.scomplex_val) + len(proto.dcomplex_val))
    for value in proto.string_val:
        total += len(value) + 2
        if total > limit:
            break
    return total


def messages_bytes(messages: Sequence[Message], limit: int) -> int:
    """About the bytes of a repeated message field: each one's size, or a sample's scaled up for long ones."""
    count = len(messages)
    if count > _SAMPLE_ITEMS:
        sample = sum(messages[i].ByteSize() for i in range(0, count, count // _SAMPLE_ITEMS))
        return sample * count // len(range(0, count, count // _SAMPLE_ITEMS))
    total = 0
    for message in messages:
        total += message.ByteSize()
        if total > limit:
            break
    return total


def _inputs_bytes(request_input, limit: int) -> int:
    kind = request_input.WhichOneof("kind")
    if kind == "example_list_with_context":
        with_context = request_input.example_list_with_context
        return with_context.context.ByteSize() + messages_bytes(with_context.examples, limit)
    if kind == "example_list":
        return messages_bytes(request_input.example_list.examples, limit)
    return 0


def predict_entry(
    spec: model_pb2.ModelSpec,
    version: int,
    signature: str,
    request: predict_pb2.PredictRequest | None,
    inputs: Mapping[str, np.ndarray],
    output_filter: Sequence[str],
    outputs: Mapping[str, np.ndarray],
    response: Callable[[], predict_pb2.PredictResponse],
    limit: int,
) -> Entry:
    """A predict: the PredictRequest as received (gRPC) or the one of its input arrays (REST, v2)."""
    size = sum(array_bytes(a, limit) for a in outputs.values())
    if request is not None:
        size += sum(tensor_proto_bytes(t, limit) for t in request.inputs.values())
        logged: Message | Callable[[], Message] = request
    else:
        size += sum(array_bytes(a, limit) for a in inputs.values())
        logged = _request_of(spec, signature, dict(inputs), tuple(output_filter))
    return Entry(spec.name, version, signature, "predict_log", size, logged, response)


def _request_of(
    spec: model_pb2.ModelSpec, signature: str, inputs: dict[str, np.ndarray], output_filter: tuple[str, ...]
) -> Callable[[], predict_pb2.PredictRequest]:
    def build() -> predict_pb2.PredictRequest:
        request = predict_pb2.PredictRequest(output_filter=output_filter)
        request.model_spec.CopyFrom(spec)
        request.model_spec.signature_name = signature
        for name, array in inputs.items():
            tensors.write(request.inputs[name], array, as_content=True)
        return request

    return build


def inference_entry(kind: str, request: Message, response: Message, version: int, limit: int) -> Entry:
    """A classify, regress or multi-inference: the request as received or built, and its response."""
    if kind == "multi_inference_log":
        spec = request.tasks[0].model_spec
        size = _inputs_bytes(request.input, limit) + messages_bytes(response.results, limit)
    else:
        spec = request.model_spec
        rows = response.result.classifications if kind == "classify_log" else response.result.regressions
        size = _inputs_bytes(request.input, limit) + messages_bytes(rows, limit)
    return Entry(spec.name, version, spec.signature_name, kind, size, request, response)
