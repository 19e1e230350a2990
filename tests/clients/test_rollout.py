"""`python -m clients.rollout`: label moves and a consistent version policy, against a real
`python -m serving` (the same path compose's published gRPC port takes) and on a kustomize ConfigMap."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from clients import rollout
from clients.tfs_grpc import GrpcClient
from deploy.image import CONFIG_DIR
from serving.testing.models import build_half_plus_two
from serving.testing.server_process import REPO_ROOT, ServerProcess, model_config_text


def test_promote_and_rollback_keep_the_policy_on_the_labelled_versions():
    config = rollout.read_config(CONFIG_DIR / "models.config")  # stable -> 1, latest 2: dangles later
    promoted = rollout.promoted(config, "detr", 3)
    detr = next(m for m in promoted.model_config_list.config if m.name == "detr")
    assert dict(detr.version_labels) == {"stable": 3, "stable-previous": 1}
    assert list(detr.model_version_policy.specific.versions) == [1, 3]
    again = rollout.promoted(promoted, "detr", 4)
    detr = next(m for m in again.model_config_list.config if m.name == "detr")
    assert dict(detr.version_labels) == {"stable": 4, "stable-previous": 3}
    assert list(detr.model_version_policy.specific.versions) == [3, 4]
    back, version = rollout.rolled_back(again, "detr")
    assert version == 3
    assert dict(next(m for m in back.model_config_list.config if m.name == "detr").version_labels) == {
        "stable": 3,
        "stable-previous": 4,
    }
    with pytest.raises(rollout.RolloutError, match="no stable-previous"):
        rollout.rolled_back(config, "detr")
    with pytest.raises(rollout.RolloutError, match="model nope is not in the config"):
        rollout.promoted(config, "nope", 1)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    pytest.importorskip("tensorflow", reason="builds its half_plus_two versions with TensorFlow")
    root = tmp_path_factory.mktemp("rollout-models")
    for version in (1, 2, 3):
        build_half_plus_two(root / "hpt", version=version, offset=float(version))  # y = x/2 + version
    (root / "hpt" / "4").mkdir()
    (root / "hpt" / "4" / "saved_model.pb").write_bytes(b"broken export")
    return root


def test_promote_rollback_and_failed_promote_against_a_running_server(repo, tmp_path, capsys):
    config = tmp_path / "models.config"
    config.write_text(
        "# kept header\n"
        + model_config_text(
            [{"name": "hpt", "base_path": repo / "hpt", "policy": "specific { versions: 1 }", "labels": {"stable": 1}}]
        )
    )
    flags = [
        "--allow_version_labels_for_unavailable_models",
        "--model_config_file_poll_wait_seconds=1",
        "--max_num_load_retries=0",
    ]
    with (
        ServerProcess(model_config_file=config, args=flags) as server,
        GrpcClient(server.grpc_address, timeout=60) as client,
    ):
        target = ["--config", str(config), "--grpc", server.grpc_address]
        stable = lambda: client.predict("hpt", np.array([0.0], np.float32), label="stable")["y"][0]  # noqa: E731

        assert rollout.main(["promote", "hpt", "3", *target]) == 0
        assert stable() == 3.0
        assert client.status("hpt", version=1)[0].state == "AVAILABLE"  # stable-previous stays loaded
        assert config.read_text().startswith("# kept header\n")
        assert "hpt: loads 1 3; stable -> 3, stable-previous -> 1" in capsys.readouterr().out

        assert rollout.main(["rollback", "hpt", *target]) == 0
        assert stable() == 1.0

        assert rollout.main(["promote", "hpt", "4", *target]) == 1  # the broken version never gets the label
        assert "hpt version 4 did not load" in capsys.readouterr().err
        assert stable() == 1.0
        assert "stable -> 1" in rollout.describe(rollout.read_config(config))
        import time

        time.sleep(2.5)  # two config polls: the file and the server agree
        assert stable() == 1.0
        assert {s.version for s in client.status("hpt") if s.state == "AVAILABLE"} == {1, 3}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) is not installed")
def test_promote_renders_the_kubernetes_config_map(tmp_path, capsys):
    shutil.copytree(REPO_ROOT / "deploy" / "kubernetes", tmp_path / "kubernetes")
    model_config = tmp_path / "kubernetes" / "base" / "config" / "detr.config"
    code = rollout.main(
        [
            "promote",
            "detr",
            "2",
            "--config",
            str(model_config),
            "--kustomize",
            str(tmp_path / "kubernetes" / "overlays" / "cpu"),
        ]
    )
    assert code == 0
    rendered = capsys.readouterr().out
    assert "kind: ConfigMap" in rendered and re.search(r'key: "stable"\s+value: 2\b', rendered)
    assert "versions: 1\n" in rendered and "versions: 2\n" in rendered
