"""The warmup file (``protocol.layout.WARMUP_FILE``): the requests a server replays before serving.

Signatures with the classify or regress method get a ClassifyLog / RegressLog (their serialized
``tf.Example`` inputs become the request's example list), so warmup runs the very path the
Classify and Regress APIs take; every other signature gets a PredictLog. The messages are the
project's own (``protocol.generated``, wire-identical to tensorflow-serving-api's).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError

from protocol import tensors
from protocol.generated.tensorflow_serving.apis import (
    classification_pb2,
    predict_pb2,
    prediction_log_pb2,
    regression_pb2,
)
from protocol.methods import CLASSIFY_METHOD, REGRESS_METHOD


def predict_log(
    model_name: str, signature_name: str, inputs: Mapping[str, np.ndarray]
) -> prediction_log_pb2.PredictionLog:
    """One ``PredictionLog`` holding a ``PredictRequest`` for ``signature_name``."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tensors.to_proto(value))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))


def _examples_request(request, model_name: str, signature_name: str, serialized: np.ndarray):
    """Fill a Classification/RegressionRequest with the tf.Example protos serialized in ``serialized``."""
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for item in np.asarray(serialized).reshape(-1):
        request.input.example_list.examples.add().ParseFromString(item)
    return request


def prediction_log(
    model_name: str, signature_name: str, inputs: Mapping[str, np.ndarray], method_name: str | None = None
) -> prediction_log_pb2.PredictionLog:
    """The warmup record of one signature: a classify or regress log for those methods (one input of
    serialized tf.Examples, as their APIs require), else a predict log."""
    if method_name in (CLASSIFY_METHOD, REGRESS_METHOD) and len(inputs) == 1:
        (serialized,) = inputs.values()
        try:
            if method_name == CLASSIFY_METHOD:
                request = _examples_request(
                    classification_pb2.ClassificationRequest(), model_name, signature_name, serialized
                )
                return prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog(request=request))
            request = _examples_request(regression_pb2.RegressionRequest(), model_name, signature_name, serialized)
            return prediction_log_pb2.PredictionLog(regress_log=prediction_log_pb2.RegressLog(request=request))
        except (DecodeError, TypeError):
            pass  # not tf.Examples: the Predict API is the only way to run it
    return predict_log(model_name, signature_name, inputs)


def write_warmup_requests(
    path: Path,
    model_name: str,
    requests: Mapping[str, Mapping[str, np.ndarray]],
    methods: Mapping[str, str] | None = None,
) -> None:
    """Write a TFRecord of PredictionLog records, one per signature in ``requests``.

    ``methods`` maps a signature to its method name (default predict).
    """
    methods = methods or {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature_name, inputs in requests.items():
            log = prediction_log(model_name, signature_name, inputs, methods.get(signature_name))
            writer.write(log.SerializeToString())


def read_warmup_requests(path: Path) -> list[prediction_log_pb2.PredictionLog]:
    """Parse a warmup file back into PredictionLog messages (for inspection and tests)."""
    logs = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    return logs
