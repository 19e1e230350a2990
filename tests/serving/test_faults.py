"""Lifecycle faults against one real server: a version that keeps failing to load, a load that hangs,
a ReloadConfig naming a base path that does not exist. None may hold the other models, version
polling or ReloadConfig.

The server retries failed loads 5 times, 10 minutes apart, so anything that waits for a retry (or
for a hung load) shows up as a timeout here. The tests run in order against the one server.
"""

from __future__ import annotations

import os
import shutil
import time

import grpc
import pytest
import requests
from google.protobuf import text_format
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from benchmarks import reliability
from protocol.layout import WARMUP_FILE
from serving.testing.models import build_half_plus_two
from serving.testing.server_process import ServerProcess, model_config_text, wait_for


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    staging = root / "staging"
    models = {name: root / name for name in ("hp2", "stuck", "other")}
    build_half_plus_two(models["hp2"], version=1, offset=1.0)
    build_half_plus_two(models["stuck"], version=1, offset=1.0)
    build_half_plus_two(models["other"], version=1, offset=7.0)
    for version, offset in ((2, 2.0), (3, 3.0), (4, 4.0)):
        build_half_plus_two(staging / "hp2", version=version, offset=offset)
    build_half_plus_two(staging / "stuck", version=2, offset=2.0)
    build_half_plus_two(staging / "stuck", version=3, offset=3.0)
    return {"root": root, "staging": staging, **models}


@pytest.fixture(scope="module")
def server(layout):
    config = layout["root"] / "models.config"
    config.write_text(_config_text(layout, "hp2", "stuck"))
    process = ServerProcess(
        model_config_file=config,
        args=[
            "--file_system_poll_wait_seconds=1",
            "--max_num_load_retries=5",
            "--load_retry_interval_micros=600000000",
        ],
    )
    with process:
        yield process
    fifo = layout["stuck"] / "2" / WARMUP_FILE
    if fifo.is_fifo():  # never leave a load hanging on it if a test failed
        try:
            _release(fifo)
        except OSError:  # no reader: nothing hangs on it
            pass


def _config_text(layout, *names, extra=()):
    return model_config_text([{"name": n, "base_path": layout[n]} for n in names] + list(extra))


def _reload(server, text):
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        return stub.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=config), timeout=60)


def _publish(layout, model, version):
    shutil.move(str(layout["staging"] / model / str(version)), str(layout[model] / str(version)))


def _release(fifo):
    """Opening the FIFO for writing and closing it gives the blocked reader an empty warmup file."""
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    os.close(fd)


def test_a_version_that_keeps_failing_holds_neither_a_newer_version_nor_reload_nor_other_models(server, layout):
    (layout["hp2"] / "2").mkdir()  # looks like a version, holds no SavedModel: every load attempt fails
    wait_for(lambda: server.state("hp2", 2) == "LOADING", what="version 2 to fail and wait")
    time.sleep(2)  # an empty directory fails at once: its retry is now ten minutes away

    response = _reload(server, _config_text(layout, "hp2", "stuck", "other"))
    assert response.status.error_code == 0
    assert server.state("other", 1) == "AVAILABLE"

    _publish(layout, "hp2", 3)
    wait_for(lambda: server.state("hp2", 3) == "AVAILABLE", what="the newer good version")
    state, status = server.state("hp2", 2), server.versions("hp2")[2]["status"]
    assert state == "END" and status["error_code"] == "NOT_FOUND"  # its pending retry was cancelled
    assert "Could not find SavedModel .pb" in status["error_message"]
    assert "Retrying of loading servable: {name: hp2 version: 2} was cancelled" in server.log()
    assert server.rest_predict("hp2", [2.0]).json() == {"predictions": [4.0]}


def test_a_hung_load_holds_neither_reload_nor_polling(server, layout):
    version = layout["staging"] / "stuck" / "2"
    (version / "assets.extra").mkdir(exist_ok=True)
    os.mkfifo(version / WARMUP_FILE)  # reading the warmup file blocks until someone opens it for writing
    _publish(layout, "stuck", 2)
    wait_for(lambda: server.state("stuck", 2) == "LOADING", what="the load of stuck/2 to hang")

    response = _reload(server, _config_text(layout, "hp2", "stuck"))  # removes "other"
    assert response.status.error_code == 0
    wait_for(lambda: server.rest_predict("other", [1.0]).status_code == 404, what="other to be removed")
    _publish(layout, "hp2", 4)
    wait_for(lambda: server.state("hp2", 4) == "AVAILABLE", what="polling of another model")
    assert server.state("stuck", 2) == "LOADING"
    assert server.rest_predict("stuck", [2.0]).json() == {"predictions": [2.0]}  # version 1 serves meanwhile

    # Released, the read fails (TensorFlow reads files with pread, which a FIFO refuses): version 2
    # waits for a retry, and the next version cancels it.
    _release(layout["stuck"] / "2" / WARMUP_FILE)
    _publish(layout, "stuck", 3)
    wait_for(lambda: server.state("stuck", 3) == "AVAILABLE", what="stuck/3")
    assert server.state("stuck", 2) == "END"
    assert server.rest_predict("stuck", [2.0]).json() == {"predictions": [4.0]}


def test_reload_naming_a_missing_base_path_answers_and_changes_nothing(server, layout):
    missing = layout["root"] / "not-there"
    with pytest.raises(grpc.RpcError) as info:
        _reload(server, _config_text(layout, "hp2", extra=[{"name": "ghost", "base_path": missing}]))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == (
        f"Could not find base path {missing} for servable ghost with error NOT_FOUND: {missing} not found"
    )
    assert server.rest_predict("stuck", [2.0]).status_code == 200  # not removed: the refused config changed nothing
    shutil.rmtree(layout["hp2"] / "2")
    build_half_plus_two(layout["staging"] / "hp2", version=5, offset=5.0)
    _publish(layout, "hp2", 5)
    wait_for(lambda: server.state("hp2", 5) == "AVAILABLE", what="polling after the refusal")
    assert requests.get(f"{server.rest_url}/v1/models/ghost", timeout=30).status_code == 404


def test_thousands_of_failing_versions_cost_no_thread_each_and_hold_no_healthy_model(tmp_path):
    """A ReloadConfig adds a model of 3,000 empty version directories under policy `all`: every load fails and
    is retried; threads stay bounded and the healthy model keeps answering REST and gRPC throughout."""
    result = reliability.run_failing_versions(tmp_path, versions=3000, seconds=12)
    assert result["alive"] and result["threads_max"] <= 300, result  # before: a timer thread per failed version
    assert result["healthy_model_failed"] == 0 and result["healthy_model_answers"].get("ok", 0) > 100, result
