"""SavedModels the project did not export, served over REST and gRPC as the official server serves them."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from clients import GrpcClient
from serving.testing.foreign_models import (
    build_tf1_half_plus_three,
    build_tf_keras,
    build_tf_text,
    build_unknown_op,
)
from serving.testing.server_process import ServerProcess, model_config_text, version_statuses, wait_for


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("foreign")


@pytest.fixture(scope="module")
def served(root):
    models = [
        {"name": "tf1", "base_path": build_tf1_half_plus_three(root / "tf1")},
        {"name": "custom_op", "base_path": build_tf1_half_plus_three(root / "custom_op")},
    ]
    if _importable("tf_keras"):
        models.append({"name": "keras2", "base_path": build_tf_keras(root / "keras2")})
    if _importable("tensorflow_text"):
        models.append({"name": "text", "base_path": build_tf_text(root / "text")})
    config = root / "models.config"
    config.write_text(model_config_text(models))
    with ServerProcess(model_config_file=config, args=["--max_num_load_retries=0"]) as server:
        yield server


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _predict(server, model, body):
    return requests.post(f"{server.rest_url}/v1/models/{model}:predict", json=body, timeout=60)


def test_a_tf1_graph_answers_as_the_official_server_does(served):
    """TF Serving's REST guide example: three scalars into an [N, 1] input."""
    reply = _predict(served, "tf1", {"instances": [2.0, 3.0, 4.0]})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"predictions": [4.0, 4.5, 5.0]}
    with GrpcClient(served.grpc_address, timeout=60) as client:
        np.testing.assert_array_equal(client.predict("tf1", {"x": np.array([1.0], np.float32)})["y"], [3.5])
        first = client.predict("tf1", {}, signature="incr_counter")["output"]
        second = client.predict("tf1", {}, signature="incr_counter")["output"]
        assert second == first + 1.0  # a ref variable the session keeps between requests
        ids = client.predict("tf1", {"keys": np.array([b"bird", b"cat"], object)}, signature="lookup")["ids"]
        np.testing.assert_array_equal(ids, [2, 0])


def test_a_tf1_regression_signature_over_parse_example(served):
    reply = requests.post(
        f"{served.rest_url}/v1/models/tf1:regress",
        json={"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}, {"x": 4.0}]},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"results": [3.5, 5.0]}


def test_a_keras_2_model_saved_the_keras_2_way(served):
    pytest.importorskip("tf_keras")
    reply = _predict(served, "keras2", {"instances": [[1.0, 2.0, 3.0]]})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"predictions": [[6.0, 6.0]]}


def test_a_model_with_tf_text_ops(served):
    pytest.importorskip("tensorflow_text")
    reply = _predict(served, "text", {"instances": ["ÅB  Ｃ"]})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"predictions": ["åb  c"]}


def test_a_version_whose_ops_are_missing_fails_alone_with_a_clear_status(served, root, tmp_path):
    """Version 2 names an op no installed library registers: its load fails, version 1 keeps serving."""
    staging = build_unknown_op(tmp_path / "staging", version=2)
    (staging / "2").rename(root / "custom_op" / "2")  # complete before the server can see it
    failed = wait_for(
        lambda: version_statuses(served.rest_url, "custom_op").get(2, {}).get("status", {}).get("error_code"),
        what="version 2 to fail its load",
    )
    status = version_statuses(served.rest_url, "custom_op")[2]
    assert (status["state"], failed) == ("END", "NOT_FOUND")
    assert "Op type not registered 'MadeUpCustomOpForTests'" in status["status"]["error_message"]
    assert _predict(served, "custom_op", {"instances": [[0.0]]}).json() == {"predictions": [[3.0]]}
