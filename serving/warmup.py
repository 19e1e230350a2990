"""Replays `assets.extra/tf_serving_warmup_requests` (a TFRecord of PredictionLog) before a version serves."""

from __future__ import annotations

import logging
import os

import tensorflow as tf

from protocol.generated.tensorflow_serving.apis import prediction_log_pb2
from protocol.layout import MAX_WARMUP_RECORDS, WARMUP_FILE
from serving.errors import Code, ServingError, invalid_argument
from serving.ops import inference
from serving.ops.predict import ProtoPredict, predict_on
from serving.servable import Servable

log = logging.getLogger("serving")


def _replay(servable: Servable, record: prediction_log_pb2.PredictionLog) -> None:
    kind = record.WhichOneof("log_type")
    if kind == "predict_log":
        predict_on(servable, ProtoPredict(record.predict_log.request), lambda prediction: None)
    elif kind == "classify_log":
        inference.classify_on(servable, record.classify_log.request)
    elif kind == "regress_log":
        inference.regress_on(servable, record.regress_log.request)
    elif kind == "multi_inference_log":
        inference.multi_inference_on(servable, record.multi_inference_log.request)
    else:
        raise ServingError(Code.UNIMPLEMENTED, f"Unsupported log_type for warmup: {kind}")


def warm_up(servable: Servable, iterations: int = 1) -> int:
    """Runs every warmup record `iterations` times; any failure fails the load. Returns the record count."""
    path = os.path.join(servable.path, WARMUP_FILE)
    if not os.path.exists(path):
        log.info("No warmup data file found at %s", path)
        return 0
    count = 0
    try:
        for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
            record = prediction_log_pb2.PredictionLog()
            try:
                record.ParseFromString(raw)
            except Exception:  # noqa: BLE001 - protobuf raises DecodeError subclasses
                raise invalid_argument(f"Failed to parse warmup record: {raw[:64]!r} from {path}") from None
            for _ in range(max(iterations, 1)):
                _replay(servable, record)
            count += 1
            if count > MAX_WARMUP_RECORDS:
                raise invalid_argument(f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}")
    except tf.errors.OpError as e:
        raise ServingError(Code.DATA_LOSS, f"Failed to read warmup records from {path}: {e.message}") from None
    log.info("Finished reading warmup data for model at %s. Number of warmup records read: %d.", path, count)
    return count
