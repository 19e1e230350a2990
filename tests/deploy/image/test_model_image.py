"""`python -m deploy.image.model_image` refuses what it cannot build with one line and exit code 1, never
a traceback: no models directory, an empty repository, a model without version directories, the
wrong number of models for --kserve, no Docker on PATH, a daemon that does not answer, a bad tag, and
anything it would take from outside the models directory (issue 20: a link in a version's assets to a
private file made that file world-readable and put it into the image). Links inside the directory are
followed. The full model builds run in tests/deploy (test_pods.py, test_modelcar.py)."""

from __future__ import annotations

import os
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


@pytest.fixture
def secrets(tmp_path) -> Path:
    """A private file and folder beside the models directory, as a user's keys would be."""
    folder = tmp_path / "secrets"
    (folder / "version" / "2").mkdir(parents=True)
    (folder / "version" / "2" / "saved_model.pb").write_bytes(b"\0")
    (folder / "key").write_text("s3cr3t")
    (folder / "key").chmod(0o600)
    return folder


def _plant(kind: str, repository: Path, secrets: Path) -> Path:
    """A link out of the models directory; returns the path the refusal must name."""
    version = repository / "hpt" / "1"
    if kind == "file":
        (version / "assets").mkdir()
        (version / "assets" / "key").symlink_to(secrets / "key")
        return version / "assets" / "key"
    if kind == "relative":
        (version / "key").symlink_to(os.path.relpath(secrets / "key", version))
        return version / "key"
    if kind == "directory":
        (version / "assets").symlink_to(secrets)
        return version / "assets"
    if kind == "version":
        (repository / "hpt" / "2").symlink_to(secrets / "version" / "2")
        return repository / "hpt" / "2"
    (repository / "other").symlink_to(secrets / "version")  # a whole model
    return repository / "other" / "2"


@pytest.mark.parametrize("kind", ["file", "relative", "directory", "version", "model"])
def test_links_out_of_the_models_directory_are_refused_before_anything_is_touched(
    capsys, repository, secrets, kind, monkeypatch, tmp_path
):
    link = _plant(kind, repository, secrets)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # nothing reaches Docker even if the check failed
    message = run(capsys, "--models-dir", str(repository), "--tag", "t:1", "--tools-image", "busybox:1")
    assert message.startswith(f"error: {link} resolves to {secrets}"), message
    assert "outside" in message and "models directory only" in message
    assert (secrets / "key").stat().st_mode & 0o777 == 0o600  # not made world-readable
    assert not list(repository.parent.glob("kts-model-image-*"))  # no build context was made


def test_links_that_loop_dangle_or_name_no_file_are_refused(capsys, repository):
    version = repository / "hpt" / "1"
    (version / "variables").symlink_to(".")
    assert "a directory that contains it: a loop" in run(capsys, "--models-dir", str(repository), "--tag", "t:1")
    (version / "variables").unlink()
    (version / "assets").symlink_to("missing")
    assert "which does not exist" in run(capsys, "--models-dir", str(repository), "--tag", "t:1")
    (version / "assets").unlink()
    os.mkfifo(version / "pipe")  # a copy would block on it forever
    assert run(capsys, "--models-dir", str(repository), "--tag", "t:1") == (
        f"error: {version / 'pipe'} is not a regular file or directory: a model image cannot hold it"
    )


@pytest.mark.docker
def test_links_inside_the_models_directory_are_followed(repository, server_image):
    import docker

    (repository / "shared").mkdir()
    (repository / "shared" / "vocabulary.txt").write_text("cat\ndog\n")
    (repository / "hpt" / "1" / "assets").mkdir()
    (repository / "hpt" / "1" / "assets" / "vocabulary.txt").symlink_to("../../../shared/vocabulary.txt")
    tag = f"kts-test-links:{os.getpid()}"
    assert model_image.build(repository, tag, ["hpt"]) == {"hpt": [1]}
    try:
        run_cat = ["cat", "/models/hpt/1/assets/vocabulary.txt"]
        assert docker.from_env().containers.run(tag, run_cat, remove=True, network_mode="none") == b"cat\ndog\n"
    finally:
        docker.from_env().images.remove(tag, force=True)
