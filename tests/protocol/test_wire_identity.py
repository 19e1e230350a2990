"""The project's own messages are the official ones on the wire, in a process that also holds
TensorFlow's and tensorflow-serving-api's (which register the same names in protobuf's default pool).

For every message type in protocol.generated: the same fields (names, numbers, types) as the
official message of that name, and a message with every field set serializes with one and parses
with the other, both ways, to the same bytes and the same text.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool, message_factory, text_format

import protocol.generated
from protocol.generated import POOL
from tests.protocol.wire import field_table, fill, message_types, variants

pytest.importorskip(
    "tensorflow_serving", reason="the official messages come with tensorflow-serving-api (the [test] extra)"
)

# Official modules that register every message protocol.generated declares.
OFFICIAL_MODULES = [
    "tensorflow.core.framework.types_pb2",
    "tensorflow.core.example.example_pb2",
    "tensorflow_serving.apis.prediction_service_pb2",
    "tensorflow_serving.apis.model_service_pb2",
    "tensorflow_serving.apis.prediction_log_pb2",
]
# Fields left out on purpose (see the comments in their .proto files).
OMITTED = {
    "tensorflow.TensorInfo": {"composite_tensor"},
    "tensorflow.serving.PredictionLog": {"session_run_log"},
}
# Server-side messages tensorflow-serving-api does not ship (only apis/ and part of config/): their .proto files
# were transcribed from tensorflow/serving 9d981c5c (same paths); the server tests parse the official text
# formats with them (deploy/image/config/*.config, the official test's batching and monitoring files).
NOT_IN_WHEEL = {
    "tensorflow.serving.BatchingParameters",
    "tensorflow.serving.MonitoringConfig",
    "tensorflow.serving.PrometheusConfig",
    "tensorflow.serving.SSLConfig",
}
ROOT = Path(__file__).resolve().parents[2]


def _our_modules():
    """The TF Serving API's modules (the Open Inference Protocol's are checked in tests/protocol/v2)."""
    return [
        importlib.import_module(m.name)
        for m in pkgutil.walk_packages(protocol.generated.__path__, "protocol.generated.")
        if m.name.endswith("_pb2") and not m.name.startswith("protocol.generated.inference.")
    ]


OUR_MESSAGES = sorted(
    (d for module in _our_modules() for d in message_types(module.DESCRIPTOR) if d.full_name not in NOT_IN_WHEEL),
    key=lambda d: d.full_name,
)


@pytest.fixture(scope="module")
def official_pool():
    for name in OFFICIAL_MODULES:
        importlib.import_module(name)
    return descriptor_pool.Default()


def _official(pool, full_name: str):
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))


def _ours(full_name: str):
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(full_name))


def test_every_message_the_clients_and_server_use_is_declared():
    names = {d.full_name for d in OUR_MESSAGES}
    for needed in (
        "tensorflow.TensorProto",
        "tensorflow.TensorShapeProto",
        "tensorflow.Example",
        "tensorflow.SignatureDef",
        "tensorflow.serving.PredictRequest",
        "tensorflow.serving.PredictResponse",
        "tensorflow.serving.ClassificationRequest",
        "tensorflow.serving.RegressionResponse",
        "tensorflow.serving.MultiInferenceRequest",
        "tensorflow.serving.GetModelMetadataResponse",
        "tensorflow.serving.SignatureDefMap",
        "tensorflow.serving.GetModelStatusResponse",
        "tensorflow.serving.ReloadConfigRequest",
        "tensorflow.serving.ModelServerConfig",
        "tensorflow.serving.PredictionLog",
    ):
        assert needed in names


@pytest.mark.parametrize("ours", OUR_MESSAGES, ids=lambda d: d.full_name)
def test_fields_match_the_official_message(official_pool, ours):
    official = official_pool.FindMessageTypeByName(ours.full_name)
    assert field_table(ours) == field_table(official, OMITTED.get(ours.full_name, set()))
    for enum in ours.enum_types:
        assert {v.name: v.number for v in enum.values} == {
            v.name: v.number for v in official.enum_types_by_name[enum.name].values
        }


def test_top_level_enums_match(official_pool):
    from protocol.generated.tensorflow.core.framework import types_pb2
    from protocol.generated.tensorflow.core.protobuf import error_codes_pb2
    from protocol.generated.tensorflow_serving.config import model_server_config_pb2

    for enum in (types_pb2.DataType, error_codes_pb2.Code, model_server_config_pb2.ModelType):
        theirs = official_pool.FindEnumTypeByName(enum.DESCRIPTOR.full_name)
        assert {v.name: v.number for v in enum.DESCRIPTOR.values} == {v.name: v.number for v in theirs.values}


@pytest.mark.parametrize("ours", OUR_MESSAGES, ids=lambda d: d.full_name)
def test_bytes_are_identical_both_ways(official_pool, ours):
    ours_class, official_class = _ours(ours.full_name), _official(official_pool, ours.full_name)
    assert ours_class is not official_class
    for choose in variants(ours, OMITTED):
        for writer, reader in ((ours_class, official_class), (official_class, ours_class)):
            sent = writer()
            fill(sent, choose, skip=OMITTED)
            wire = sent.SerializeToString(deterministic=True)
            received = reader.FromString(wire)
            assert received.SerializeToString(deterministic=True) == wire, (writer, choose)
            assert text_format.MessageToString(received) == text_format.MessageToString(sent), (writer, choose)


def test_services_match(official_pool):
    from protocol.generated.tensorflow_serving.apis import model_service_pb2, prediction_service_pb2

    for module in (prediction_service_pb2, model_service_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            theirs = official_pool.FindServiceByName(service.full_name)
            assert {m.name: (m.input_type.full_name, m.output_type.full_name) for m in service.methods} == {
                m.name: (m.input_type.full_name, m.output_type.full_name) for m in theirs.methods
            }


@pytest.mark.parametrize("order", ["official first", "protocol first"])
def test_both_import_in_one_process_in_either_order(order):
    official = "import tensorflow_serving.apis.prediction_service_pb2, tensorflow_serving.apis.model_service_pb2"
    ours = (
        "import protocol.generated.tensorflow_serving.apis.prediction_service_pb2_grpc, "
        "protocol.generated.tensorflow_serving.apis.model_service_pb2_grpc, "
        "protocol.generated.tensorflow_serving.apis.prediction_log_pb2"
    )
    code = "; ".join([official, ours] if order == "official first" else [ours, official]) + "; print('ok')"
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
