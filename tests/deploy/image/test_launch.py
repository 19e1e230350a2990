"""`python -m deploy.image.launch` answers in one line, exit code 1, when Docker cannot give it what it
needs, and says what to do (issue 22: offline it ended in a raw `500 Server Error ... images/create ...
no such host`). Against the real daemon: an image reference under `.invalid` (RFC 2606: never resolves,
with or without internet) fails its pull exactly as an unreachable registry does. The successful start
runs in tests/clients/test_docker.py."""

from __future__ import annotations

import os

import pytest

from deploy.image import launch


def run(capsys, *argv: str) -> str:
    """The command's stderr, which must be one `error: ...` line with exit code 1."""
    assert launch.main(list(argv)) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    return err.strip()


@pytest.fixture
def start(tmp_path):
    return ["start", "--models-dir", str(tmp_path), "--name", f"kts-launch-errors-{os.getpid()}"]


@pytest.mark.docker
def test_an_image_that_cannot_be_pulled_names_the_project_image(capsys, start, server_image):
    message = run(capsys, *start, "--image", "kts.invalid/serving:1")
    assert message.startswith("error: cannot pull kts.invalid/serving:1 (") and "kts.invalid" in message
    assert "To serve with the project's image instead: `bash scripts/docker_setup.sh` builds " in message
    assert f"then add --image {launch.PROJECT_IMAGE}" in message


@pytest.mark.docker
def test_a_project_image_that_is_not_built_is_never_pulled(capsys, start, server_image):
    assert run(capsys, *start, "--image", "keras-to-serving/server:not-built") == (
        "error: keras-to-serving/server:not-built is not built on this machine: `bash scripts/docker_setup.sh` "
        f"builds {launch.PROJECT_IMAGE} without a registry"
    )


@pytest.mark.docker
def test_a_missing_network_says_to_use_the_host_network(capsys, start, server_image):
    message = run(capsys, *start, "--image", server_image, "--network", "kts-no-such-network")
    assert message.startswith("error: this Docker daemon has no network named kts-no-such-network")
    assert message.endswith("add --network host --loopback-only")


def test_no_daemon(capsys, start, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-daemon.sock'}")
    message = run(capsys, *start)
    assert message.startswith("error: no Docker daemon answers (")
    assert message.endswith("start one, e.g. `bash scripts/docker_setup.sh --daemon`")
    assert run(capsys, "stop").startswith("error: no Docker daemon answers (")
