"""Request logs as the model config declares them: sampled requests of every API as PredictionLog records in
rotating TFRecord files, bounded; read back with python -m serving.logs; replayed as a new version's warmup."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import grpc
import numpy as np
import pytest
import requests

from protocol import tensors
from protocol.generated.tensorflow.core.example import example_pb2
from protocol.generated.tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from serving.logs.cli import records
from serving.logs.collector import log_files
from serving.testing.models import build_half_plus_two
from serving.testing.server_process import (
    METRICS_PATH,
    MONITORING_CONFIG,
    REPO_ROOT,
    ServerProcess,
    model_config_text,
    run_server,
    wait_for,
)

FILE_BYTES = 3000
MAX_FILES = 3
MAX_RECORD_BYTES = 4096


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("request_logs")


@pytest.fixture(scope="module")
def server(tmp_path_factory, logs):
    root = tmp_path_factory.mktemp("logged_models")
    base = build_half_plus_two(root / "half_plus_two")
    config = root / "models.config"
    config.write_text(
        model_config_text(
            [
                {"name": "logged", "base_path": base, "logging": (logs / "logged", 1.0)},
                {"name": "unlogged", "base_path": base, "logging": (logs / "unlogged", 0.0)},
                {"name": "bounded", "base_path": base, "logging": (logs / "bounded", 1.0)},
                {"name": "plain", "base_path": base},
            ]
        )
    )
    monitoring = root / "monitoring.config"
    monitoring.write_text(MONITORING_CONFIG)
    with ServerProcess(
        model_config_file=config,
        args=[
            "--file_system_poll_wait_seconds=0",
            f"--monitoring_config_file={monitoring}",
            f"--request_log_max_record_bytes={MAX_RECORD_BYTES}",
            f"--request_log_file_bytes={FILE_BYTES}",
            f"--request_log_max_files={MAX_FILES}",
        ],
    ) as process:
        yield process


def _read(prefix) -> list:
    notes: list[str] = []
    found = [record for path in log_files(str(prefix)) for record in records(path, notes)]
    assert not [n for n in notes if "corrupt" in n or "not a PredictionLog" in n], notes
    return found


def _wait_records(prefix, count: int) -> list:
    return wait_for(lambda: (found := _read(prefix)) and len(found) >= count and found, 30, f"{count} records")


def _stub(server):
    return prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.grpc_address))


def _examples(*values: float) -> list:
    return [example_pb2.Example(features={"feature": {"x": {"float_list": {"value": [v]}}}}) for v in values]


def test_every_api_is_logged_as_the_request_it_is(server, logs):
    rest = f"{server.rest_url}/v1/models/logged"
    assert requests.post(f"{rest}:predict", json={"inputs": {"x": [1.0, 2.0]}}, timeout=30).status_code == 200
    reply = requests.post(
        f"{rest}:classify", json={"signature_name": "classify_x_to_y", "examples": [{"x": 3.0}]}, timeout=30
    )
    assert reply.status_code == 200
    stub = _stub(server)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "logged"
    request.inputs["x"].CopyFrom(tensors.to_proto(np.array([4.0, 5.0, 6.0], np.float32), as_content=False))
    stub.Predict(request, timeout=30)
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name, regress.model_spec.signature_name = "logged", "regress_x_to_y"
    regress.input.example_list.examples.extend(_examples(7.0))
    stub.Regress(regress, timeout=30)
    multi = inference_pb2.MultiInferenceRequest()
    for signature, method in (
        ("classify_x_to_y", "tensorflow/serving/classify"),
        ("regress_x_to_y", "tensorflow/serving/regress"),
    ):
        task = multi.tasks.add(method_name=method)
        task.model_spec.name, task.model_spec.signature_name = "logged", signature
    multi.input.example_list.examples.extend(_examples(8.0))
    stub.MultiInference(multi, timeout=30)
    failed = requests.post(f"{rest}:predict", json={"inputs": {"nope": [1.0]}}, timeout=30)
    assert failed.status_code == 400  # not answered: not logged

    found = _wait_records(logs / "logged", 5)
    assert [r.WhichOneof("log_type") for r in found] == [
        "predict_log",
        "classify_log",
        "predict_log",
        "regress_log",
        "multi_inference_log",
    ]
    now = time.time()
    for record in found:
        metadata = record.log_metadata
        assert metadata.model_spec.name == "logged" and metadata.model_spec.version.value == 1
        assert metadata.sampling_config.sampling_rate == 1.0
        assert list(metadata.saved_model_tags) == ["serve"]
        assert now - 120 < metadata.timestamp_secs <= now
    rest_predict, rest_classify, grpc_predict, grpc_regress, multi_log = found
    # REST: the PredictRequest its body is equivalent to, and the answer it got
    assert rest_predict.log_metadata.model_spec.signature_name == "serving_default"
    np.testing.assert_array_equal(tensors.to_numpy(rest_predict.predict_log.request.inputs["x"]), [1.0, 2.0])
    np.testing.assert_allclose(tensors.to_numpy(rest_predict.predict_log.response.outputs["y"]), [2.5, 3.0])
    assert rest_predict.predict_log.response.model_spec.version.value == 1
    assert isinstance(rest_classify.classify_log.request, classification_pb2.ClassificationRequest)
    examples = rest_classify.classify_log.request.input.example_list.examples
    assert examples[0].features.feature["x"].float_list.value == [3.0]
    assert rest_classify.classify_log.response.result.classifications[0].classes[0].score == pytest.approx(3.5)
    # gRPC: the request as received
    assert grpc_predict.predict_log.request == request
    np.testing.assert_allclose(tensors.to_numpy(grpc_predict.predict_log.response.outputs["y"]), [4.0, 4.5, 5.0])
    assert grpc_regress.regress_log.request == regress
    assert grpc_regress.regress_log.response.result.regressions[0].value == pytest.approx(5.5)
    assert multi_log.multi_inference_log.request == multi
    assert len(multi_log.multi_inference_log.response.results) == 2


def test_a_zero_rate_and_a_model_without_logging_config_log_nothing(server, logs):
    for model in ("unlogged", "plain"):
        for _ in range(5):
            assert server.rest_predict(model, [1.0]).status_code == 200
    assert server.rest_predict("logged", [9.0]).status_code == 200
    _wait_records(logs / "logged", 6)  # the logged one is written, so anything the others queued would be too
    assert log_files(str(logs / "unlogged")) == []
    assert not list(logs.glob("plain*"))


def _log_count(server, model: str, code: str) -> float:
    page = requests.get(server.rest_url + METRICS_PATH, timeout=30).text
    found = re.search(
        rf':tensorflow:serving:request_log_count{{model_name="{model}",status_code="{code}"}} (\S+)', page
    )
    return float(found.group(1)) if found else 0.0


def test_a_request_larger_than_a_record_may_hold_is_answered_and_counted_not_logged(server, logs):
    large = np.arange(2 * MAX_RECORD_BYTES, dtype=np.float32)  # 32 KiB in, 32 KiB out
    before = len(_read(logs / "bounded"))
    reply = requests.post(
        f"{server.rest_url}/v1/models/bounded:predict", json={"inputs": {"x": large.tolist()}}, timeout=30
    )
    assert reply.status_code == 200 and len(reply.json()["outputs"]) == large.size
    assert _log_count(server, "bounded", "RESOURCE_EXHAUSTED") == 1
    assert server.rest_predict("bounded", [1.0]).status_code == 200
    wait_for(lambda: _log_count(server, "bounded", "OK") >= 1, 30, "the small record written")
    assert len(_read(logs / "bounded")) == before + 1


def test_files_rotate_and_the_oldest_are_removed(server, logs):
    for i in range(60):  # ~190 bytes a record: about 15 a file, 4 files' worth
        assert server.rest_predict("bounded", [float(i)]).status_code == 200
    wait_for(lambda: _log_count(server, "bounded", "OK") >= 61, 30, "60 more records written")
    files = log_files(str(logs / "bounded"))
    assert len(files) == MAX_FILES
    sizes = [os.path.getsize(path) for path in files]
    assert all(0 < size <= FILE_BYTES for size in sizes), sizes
    kept = _read(logs / "bounded")
    values = [float(tensors.to_numpy(r.predict_log.request.inputs["x"])[0]) for r in kept]
    assert values == sorted(values) and values[-1] == 59.0  # the newest kept, in order, the oldest gone
    assert len(kept) < 61


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "serving.logs", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


def test_python_m_serving_logs_lists_prints_and_converts(server, logs, tmp_path):
    _wait_records(logs / "logged", 5)
    listing = _cli("list", str(logs / "logged"))
    assert listing.returncode == 0, listing.stderr
    assert "logged:predict_log" in listing.stdout and "logged:multi_inference_log" in listing.stdout
    printed = _cli("print", str(logs / "logged"), "--limit", "1")
    assert printed.returncode == 0 and re.search(r"predict_log logged v1 serving_default inputs\[x:2\]", printed.stdout)
    text = _cli("print", str(logs / "logged"), "--limit", "1", "--text")
    assert 'signature_name: "serving_default"' in text.stdout
    out = tmp_path / "records.jsonl"
    converted = _cli("convert", str(logs / "logged"), "--jsonl", str(out))
    assert converted.returncode == 0, converted.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["logMetadata"]["modelSpec"]["name"] == "logged"
    missing = _cli("list", str(logs / "nothing-here"))
    assert missing.returncode != 0 and "no request log files with that prefix" in missing.stderr


def test_a_recorded_log_replays_as_a_new_versions_warmup(server, logs, tmp_path):
    recorded = _wait_records(logs / "logged", 5)
    base = build_half_plus_two(tmp_path / "replayed", version=1)
    converted = _cli("convert", str(logs / "logged"), "--warmup", str(base / "1"))
    assert converted.returncode == 0, converted.stderr
    count = int(re.search(r"(\d+) records written", converted.stdout).group(1))
    assert count == len(_read(logs / "logged")) >= len(recorded)
    with ServerProcess(
        model_name="replayed", model_base_path=base, args=["--file_system_poll_wait_seconds=0"]
    ) as replay:
        assert server.rest_predict("logged", [1.0]).json() == replay.rest_predict("replayed", [1.0]).json()
    assert f"Number of warmup records read: {count}." in replay.log()


@pytest.mark.parametrize(
    "logging, message",
    [
        (
            'log_collector_config { type: "kafka" filename_prefix: "/tmp/x" }',
            "Cannot find LogCollector::Factory for type: kafka",
        ),
        ('log_collector_config { filename_prefix: "relative/prefix" }', "must be an absolute path prefix"),
        ('log_collector_config { filename_prefix: "/tmp/x" } sampling_config { sampling_rate: 1.5 }', "within [0, 1]"),
    ],
)
def test_a_logging_config_that_cannot_apply_fails_start_up(tmp_path, logging, message):
    config = tmp_path / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "m" base_path: "{tmp_path}" model_platform: "tensorflow" '
        f"logging_config {{ {logging} }} }} }}"
    )
    result = run_server([f"--model_config_file={config}"])
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
