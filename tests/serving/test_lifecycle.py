"""Versions over time: polling, availability-preserving swaps, failed loads, labels, config reloads, SIGTERM.

The tests in this module run in order against one server whose model directories they change.
"""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from serving.testing.models import build_half_plus_two, write_predict_warmup
from serving.testing.server_process import ServerProcess, model_config_text, wait_for


def _publish(staging, base, version):
    """Exporters write elsewhere and rename into place; so do the tests."""
    shutil.move(str(staging / str(version)), str(base / str(version)))


@pytest.fixture(scope="module")
def layout(tmp_path_factory, model_root):
    root = tmp_path_factory.mktemp("lifecycle")
    staging = root / "staging"
    base = root / "hp2"
    build_half_plus_two(base, version=1, offset=1.0)
    build_half_plus_two(staging, version=2, offset=2.0)
    build_half_plus_two(staging, version=3, offset=3.0)
    write_predict_warmup(staging / "3", {"wrong_input": np.array([1.0], np.float32)})
    shutil.copytree(model_root / "slow", root / "slow")
    config = root / "models.config"
    config.write_text(
        model_config_text(
            [
                {"name": "hp2", "base_path": base, "labels": {"stable": 1}},
                {"name": "slow", "base_path": root / "slow"},
            ]
        )
    )
    return {"root": root, "staging": staging, "base": base, "config": config, "model_root": model_root}


@pytest.fixture(scope="module")
def server(layout):
    process = ServerProcess(
        model_config_file=layout["config"],
        args=[
            "--file_system_poll_wait_seconds=1",
            "--model_config_file_poll_wait_seconds=1",
            "--max_num_load_retries=0",
            "--allow_version_labels_for_unavailable_models",
        ],
    )
    with process:
        yield process


def test_label_for_a_version_not_yet_loaded_is_allowed_with_the_flag(server):
    assert server.rest_predict("hp2/labels/stable", [2.0]).json() == {"predictions": [2.0]}


def test_new_version_swaps_in_without_unavailability(server, layout):
    stop = threading.Event()
    answers, failures = [], []

    def client():
        while not stop.is_set():
            reply = server.rest_predict("hp2", [2.0])
            if reply.status_code == 200:
                answers.append(reply.json()["predictions"][0])
            else:
                failures.append(reply.text)

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(client) for _ in range(2)]
        _publish(layout["staging"], layout["base"], 2)
        wait_for(lambda: server.state("hp2", 1) == "END", what="version 1 unloaded")
        stop.set()
        for f in futures:
            f.result()
    assert failures == []
    assert {2.0, 3.0} >= set(answers)  # version 1 or version 2, never anything else
    assert server.state("hp2", 2) == "AVAILABLE"
    assert server.rest_predict("hp2", [2.0]).json() == {"predictions": [3.0]}
    assert server.rest_predict("hp2/versions/1", [2.0]).status_code == 404


def test_failed_version_is_reported_and_previous_keeps_serving(server, layout):
    _publish(layout["staging"], layout["base"], 3)
    wait_for(lambda: server.state("hp2", 3) == "END", what="version 3 to fail")
    status = server.versions("hp2")[3]["status"]
    assert status["error_code"] == "INVALID_ARGUMENT" and "wrong_input" in status["error_message"]
    assert server.state("hp2", 2) == "AVAILABLE"
    assert server.rest_predict("hp2", [2.0]).json() == {"predictions": [3.0]}
    assert server.rest_predict("hp2/versions/3", [2.0]).status_code == 404


def test_republished_fixed_version_loads(server, layout):
    shutil.rmtree(layout["base"] / "3")
    time.sleep(3)  # several 1 s polls see version 3 gone; it is retired, so a new copy loads again
    build_half_plus_two(layout["staging"], version=3, offset=3.0)
    _publish(layout["staging"], layout["base"], 3)
    wait_for(lambda: server.state("hp2", 3) == "AVAILABLE", what="fixed version 3")
    assert server.versions("hp2")[3]["status"] == {"error_code": "OK", "error_message": ""}
    wait_for(lambda: server.state("hp2", 2) == "END", what="version 2 unloaded")
    assert server.rest_predict("hp2", [2.0]).json() == {"predictions": [4.0]}


def _reload(server, text):
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    channel = grpc.insecure_channel(server.grpc_address)
    try:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        return stub.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=config), timeout=120)
    finally:
        channel.close()


def test_reload_config_over_grpc_adds_models_and_moves_labels(server, layout):
    strings = layout["model_root"] / "strings"
    text = model_config_text(
        [
            {"name": "hp2", "base_path": layout["base"], "labels": {"stable": 3, "canary": 3}},
            {"name": "slow", "base_path": layout["root"] / "slow"},
            {"name": "strings", "base_path": strings},
        ]
    )
    response = _reload(server, text)
    assert response.status.error_code == 0
    assert server.state("strings", 1) == "AVAILABLE"  # the reply waited for the new model
    assert server.rest_predict("hp2/labels/canary", [2.0]).json() == {"predictions": [4.0]}

    bad = model_config_text(
        [
            {"name": "hp2", "base_path": layout["base"], "labels": {"stable": 9}},
            {"name": "slow", "base_path": layout["root"] / "slow"},
        ]
    )
    with pytest.raises(grpc.RpcError) as info:
        _reload(server, bad)  # moving an existing label needs an AVAILABLE target even with the flag
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "Request to assign label to version 9 of model hp2" in info.value.details()

    with pytest.raises(grpc.RpcError) as info:
        _reload(
            server, 'model_config_list { config { name: "x" base_path: "relative/path" model_platform: "tensorflow" } }'
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_config_file_polling_removes_and_adds_models(server, layout):
    multi = layout["model_root"] / "multi_io"
    layout["config"].write_text(
        model_config_text(
            [
                {"name": "hp2", "base_path": layout["base"]},
                {"name": "slow", "base_path": layout["root"] / "slow"},
                {"name": "multi_io", "base_path": multi},
            ]
        )
    )
    wait_for(lambda: server.state("multi_io", 1) == "AVAILABLE", what="multi_io from polled file")
    wait_for(lambda: server.rest_predict("strings", ["a"]).status_code == 404, what="strings removed")
    assert server.state("strings", 1) == "END"


def test_in_flight_request_finishes_before_unload_and_sigterm_exits_zero(server, layout):
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(server.rest_predict, "slow", [2.0], 120)
        time.sleep(0.5)
        code = server.stop(timeout=60)
        reply = slow.result()
    assert reply.status_code == 200 and reply.json() == {"predictions": [2.0]}
    assert code == 0
    assert "Shutting down" in server.log()
