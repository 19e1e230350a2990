"""The warmup file (``protocol.layout.WARMUP_FILE``): the requests a server replays before serving."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2


def predict_log(model_name: str, signature_name: str,
                inputs: Mapping[str, np.ndarray]) -> prediction_log_pb2.PredictionLog:
    """One ``PredictionLog`` holding a ``PredictRequest`` for ``signature_name``."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))


def write_warmup_requests(path: Path, model_name: str,
                          requests: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Write a TFRecord of PredictionLog records, one per signature in ``requests``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature_name, inputs in requests.items():
            writer.write(predict_log(model_name, signature_name, inputs).SerializeToString())


def read_warmup_requests(path: Path) -> list[prediction_log_pb2.PredictionLog]:
    """Parse a warmup file back into PredictionLog messages (for inspection and tests)."""
    logs = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    return logs
