"""`python -m deploy.image.model_image` refuses what it cannot build with one line and exit code 1, never
a traceback: no models directory, an empty repository, a model without version directories, the
wrong number of models for --kserve, no Docker on PATH, a daemon that does not answer, a bad tag.
The builds themselves run in tests/deploy (test_pods.py, test_modelcar.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deploy.image import model_image


def run(capsys, *argv: str) -> str:
    """The command's stderr, which must be one `error: ...` line with exit code 1."""
    assert model_image.main(list(argv)) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    return err.strip()


@pytest.fixture
def repository(tmp_path) -> Path:
    """models/hpt/1/ with a file in it (the command checks the layout before Docker sees it)."""
    (tmp_path / "models" / "hpt" / "1").mkdir(parents=True)
    (tmp_path / "models" / "hpt" / "1" / "saved_model.pb").write_bytes(b"\0")
    return tmp_path / "models"


def test_no_models_directory(capsys, tmp_path):
    assert (
        run(capsys, "--models-dir", str(tmp_path / "absent"), "--tag", "t:1")
        == f"error: {tmp_path / 'absent'} is not a directory"
    )


def test_empty_repository(capsys, tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "README").write_text("no models yet")
    assert (
        run(capsys, "--models-dir", str(tmp_path / "models"), "--tag", "t:1")
        == f"error: {tmp_path / 'models'} holds no models"
    )


def test_model_without_versions(capsys, repository):
    (repository / "detr" / "latest").mkdir(parents=True)
    assert "detr holds no version directory (models/<name>/<integer>/)" in run(
        capsys, "--models-dir", str(repository), "--tag", "t:1"
    )
    assert "nope holds no version directory" in run(
        capsys, "--models-dir", str(repository), "--model", "nope", "--tag", "t:1"
    )


def test_kserve_takes_exactly_one_model(capsys, repository):
    for models in ([], ["--model", "hpt", "--model", "hpt2"]):
        assert "--kserve takes exactly one --model" in run(
            capsys, "--models-dir", str(repository), "--kserve", *models, "--tag", "t:1"
        )


def test_docker_missing(capsys, repository, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert run(capsys, "--models-dir", str(repository), "--tag", "t:1").startswith(
        "error: docker is not installed (no `docker` on PATH)"
    )


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI on PATH")
def test_daemon_not_answering(capsys, repository, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-daemon.sock'}")
    message = run(capsys, "--models-dir", str(repository), "--tag", "t:1", "--tools-image", "busybox:1")
    assert message.startswith("error: docker build failed: ") and "daemon" in message.lower()


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI on PATH")
def test_bad_tag(capsys, repository):
    message = run(capsys, "--models-dir", str(repository), "--tag", "Not A Tag", "--tools-image", "busybox:1")
    assert message.startswith("error: docker build failed: ") and "invalid" in message.lower()
