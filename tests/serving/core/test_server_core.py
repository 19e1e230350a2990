"""The config layer on its own: transitions, labels, missing base paths and waits that hold nothing.

Version directories are empty: the loader is the tests' fake, so no TensorFlow runs.
"""

from __future__ import annotations

import threading

import pytest
from google.protobuf import text_format

from protocol.generated.tensorflow_serving.apis import model_pb2
from protocol.generated.tensorflow_serving.config import model_server_config_pb2
from serving.core.server_core import ServerCore
from serving.errors import ServingError
from serving.options import ServerOptions
from serving.testing.server_process import model_config_text
from tests.serving.core.fakes import Loads, states, until


def _config(models):
    return text_format.Parse(model_config_text(models), model_server_config_pb2.ModelServerConfig())


@pytest.fixture
def loads():
    return Loads()


@pytest.fixture
def core(loads):
    core = ServerCore(
        ServerOptions(file_system_poll_wait_seconds=0, max_num_load_retries=0),
        load=loads.load,
        unload=loads.unload,
    )
    yield core
    for event in loads.block.values():
        event.set()
    core.stop()


def _versions(base, *versions):
    for version in versions:
        (base / str(version)).mkdir(parents=True)
    return base


def _serves(core, name, version=None):
    spec = model_pb2.ModelSpec(name=name)
    if version is not None:
        spec.version.value = version
    with core.servable(spec) as servable:
        return servable.version


def test_reload_naming_a_missing_base_path_is_refused_whole(core, tmp_path):
    a = _versions(tmp_path / "a", 1)
    core.reload_config(_config([{"name": "a", "base_path": a}]))
    missing = tmp_path / "missing"
    with pytest.raises(ServingError) as info:
        core.reload_config(_config([{"name": "b", "base_path": missing}]))
    assert info.value.code_name == "INVALID_ARGUMENT"
    assert info.value.message == (
        f"Could not find base path {missing} for servable b with error NOT_FOUND: {missing} not found"
    )
    assert _serves(core, "a") == 1  # the config in force did not change: "a" was not removed
    _versions(a, 2)
    core.source.poll()
    until(lambda: states(core.lifecycle, "a").get(2) == "AVAILABLE", "a's new version")


def test_reload_waits_for_new_models_and_reports_a_failed_latest(core, loads, tmp_path):
    a, b = _versions(tmp_path / "a", 1), _versions(tmp_path / "b", 1, 2)
    loads.fail[("b", 2)] = 1
    with pytest.raises(ServingError) as info:
        core.reload_config(_config([{"name": "a", "base_path": a}, {"name": "b", "base_path": b}]))
    assert info.value.code_name == "UNKNOWN"
    assert info.value.message.startswith(
        "1 model(s) did not become available: {{{name: b version: 2} due to error: NOT_FOUND: no SavedModel at"
    )
    assert _serves(core, "a") == 1


def test_a_reload_waiting_for_a_model_without_versions_holds_no_other_reload(core, tmp_path):
    a, empty = _versions(tmp_path / "a", 1), tmp_path / "empty"
    empty.mkdir()
    core.reload_config(_config([{"name": "a", "base_path": a}]))
    outcome = {}

    def first():
        try:
            core.reload_config(_config([{"name": "a", "base_path": a}, {"name": "e", "base_path": empty}]))
            outcome["first"] = "ok"
        except ServingError as e:
            outcome["first"] = e.code_name

    waiting = threading.Thread(target=first)
    waiting.start()
    until(lambda: "e" in core._models, "the first reload to be in force")
    b = _versions(tmp_path / "b", 1)
    core.reload_config(_config([{"name": "a", "base_path": a}, {"name": "b", "base_path": b}]), timeout=30)
    assert _serves(core, "b") == 1
    waiting.join(30)  # the model it waited for left the config: it stops waiting
    assert outcome == {"first": "ok"}
    with pytest.raises(ServingError) as info:
        core.reload_config(_config([{"name": "e", "base_path": empty}]), timeout=0.2)
    assert info.value.code_name == "DEADLINE_EXCEEDED"


def test_a_new_model_without_versions_is_waited_for_and_scanned_again(core, tmp_path):
    base = tmp_path / "later"
    base.mkdir()
    done = threading.Event()
    waiting = threading.Thread(
        target=lambda: (core.reload_config(_config([{"name": "later", "base_path": base}])), done.set())
    )
    waiting.start()
    until(lambda: "later" in core._models, "the config to be in force")
    assert not done.is_set()
    _versions(base, 1)  # no polling thread runs (poll wait 0): the wait itself scans again
    waiting.join(30)
    assert done.is_set() and _serves(core, "later") == 1


def test_labels_need_an_available_version_and_route_requests(core, tmp_path):
    a = _versions(tmp_path / "a", 1, 2)
    core.reload_config(_config([{"name": "a", "base_path": a, "policy": "all {}"}]))
    core.reload_config(_config([{"name": "a", "base_path": a, "policy": "all {}", "labels": {"stable": 1}}]))
    spec = model_pb2.ModelSpec(name="a", version_label="stable")
    with core.servable(spec) as servable:
        assert servable.version == 1
    with pytest.raises(ServingError) as info:
        core.reload_config(_config([{"name": "a", "base_path": a, "policy": "all {}", "labels": {"stable": 7}}]))
    assert info.value.code_name == "FAILED_PRECONDITION"
    assert "Request to assign label to version 7 of model a" in info.value.message
    with core.servable(spec) as servable:  # the refused config changed nothing
        assert servable.version == 1


def test_only_model_config_lists_follow_each_other(core, tmp_path):
    core.reload_config(model_server_config_pb2.ModelServerConfig())  # empty: nothing to do
    core.reload_config(_config([{"name": "a", "base_path": _versions(tmp_path / "a", 1)}]))
    custom = model_server_config_pb2.ModelServerConfig()
    custom.custom_model_config.type_url = "x"
    with pytest.raises(ServingError) as info:
        core.reload_config(custom)
    assert info.value.code_name == "FAILED_PRECONDITION"
