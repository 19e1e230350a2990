"""deploy/image/config/healthcheck.sh (compose healthcheck, launch, Kubernetes readiness) against a real server:
healthy only when every configured model has an AVAILABLE version and every label points at one."""

from __future__ import annotations

import subprocess

import pytest

from clients.errors import ServingError
from clients.tfs_grpc import GrpcClient
from deploy.image import CONFIG_DIR
from serving.testing.models import build_half_plus_two
from serving.testing.server_process import ServerProcess, model_config_text

SCRIPT = CONFIG_DIR / "healthcheck.sh"


def healthcheck(port: int, config) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(port), str(config)], capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("healthcheck-models")
    build_half_plus_two(root / "hpt", version=1)
    build_half_plus_two(root / "hpt", version=2, offset=3.0)
    build_half_plus_two(root / "other")
    (root / "broken" / "1").mkdir(parents=True)
    (root / "broken" / "1" / "saved_model.pb").write_bytes(b"not a SavedModel")
    return root


def test_healthy_unhealthy_label_and_failed_model(repo, tmp_path):
    models = [
        {"name": "hpt", "base_path": repo / "hpt", "policy": "all {}", "labels": {"stable": 1, "canary": 2}},
        {"name": "other", "base_path": repo / "other"},
    ]
    config = tmp_path / "models.config"
    config.write_text('# name: "commented_out"\n' + model_config_text(models))
    with ServerProcess(
        model_config_file=config, args=["--allow_version_labels_for_unavailable_models", "--max_num_load_retries=0"]
    ) as server:
        ok = healthcheck(server.rest_port, config)
        assert ok.returncode == 0, ok.stderr

        dangling = tmp_path / "dangling.config"  # a label on a version that is not loaded
        dangling.write_text(model_config_text([{**models[0], "labels": {"stable": 7}}, models[1]]))
        result = healthcheck(server.rest_port, dangling)
        assert result.returncode == 1 and "hpt version 7: no AVAILABLE version" in result.stderr

        with_broken = tmp_path / "broken.config"  # a model whose only version failed to load (state END)
        with_broken.write_text(model_config_text([*models, {"name": "broken", "base_path": repo / "broken"}]))
        with GrpcClient(server.grpc_address, timeout=120, retries=0) as client:
            with pytest.raises(ServingError):
                client.reload_config(with_broken.read_text())
            assert client.status("broken")[0].state == "END"
        result = healthcheck(server.rest_port, with_broken)
        assert result.returncode == 1 and "broken: no AVAILABLE version" in result.stderr

    closed = healthcheck(server.rest_port, config)
    assert closed.returncode == 1 and "closed" in closed.stderr


def test_a_config_without_models_is_unhealthy(tmp_path):
    empty = tmp_path / "empty.config"
    empty.write_text("model_config_list {}\n")
    result = healthcheck(1, empty)
    assert result.returncode == 1 and "names no models" in result.stderr
