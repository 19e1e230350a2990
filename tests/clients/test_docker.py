"""docker-compose.yml and `python -m deploy.image.launch` with the project's server image substituted for the
official one (no registry here): same command, same mounts, host networking, reached on 127.0.0.1; and
the confinement both promise, checked inside the running container (non-root, read-only root, seccomp,
no capabilities, a memory limit) while it serves.

Skipped, with the reason, only where no Docker daemon can be started.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from clients import tasks as helpers
from clients.tfs_grpc import GrpcClient
from clients.tfs_rest import RestClient
from deploy.image import CONFIG_DIR, SERVER_UID, SERVER_USER, launch
from export.pipeline.tolerance import assert_same_computation
from serving.testing.models import build_half_plus_two
from serving.testing.server_process import free_port
from tests.fixtures.docker import SERVER_IMAGE, assert_confined
from tests.fixtures.pictures import sample_picture

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def compose_command() -> list[str]:
    """`docker compose` (v2 plugin) when present, else Debian's `docker-compose` (v1)."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("neither `docker compose` nor `docker-compose` is installed (scripts/docker_setup.sh installs it)")


def compose(*args: str, env: dict[str, str], files: list[Path] | None = None) -> subprocess.CompletedProcess:
    command = compose_command()
    for f in files or [ROOT / "docker-compose.yml"]:
        command += ["-f", str(f)]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env={**os.environ, **env}, cwd=ROOT, timeout=300
    )


COMPOSE_VARIABLES = (
    "TF_SERVING_IMAGE",
    "TF_SERVING_GRPC_PORT",
    "TF_SERVING_REST_PORT",
    "MODELS_DIR",
    "TF_SERVING_PUBLISH_ADDRESS",
    "TF_SERVING_USER",
    "TF_SERVING_MEMORY",
)


def test_compose_config_is_valid_and_pins_the_official_image():
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_VARIABLES}
    command = compose_command() + ["-f", str(ROOT / "docker-compose.yml"), "config"]
    run = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert re.search(r"image: tensorflow/serving:\d+\.\d+\.\d+\n", text)
    assert re.search(r"image: tensorflow/serving:\d+\.\d+\.\d+-gpu\n", text)
    assert mounted_read_only(text, ROOT / "models", "/models") and mounted_read_only(text, CONFIG_DIR, "/config")
    for flag in (
        "--port=8500",
        "--rest_api_port=8501",
        "--model_config_file=/config/models.config",
        "--monitoring_config_file=/config/monitoring.config",
    ):
        assert flag in text
    # `python -m deploy.image.launch` promises the compose file's command line.
    assert _service_command(text) == launch.server_flags(8500, 8501, "models.config", loopback_only=False)
    assert "init: true" in text and "restart: unless-stopped" in text and "healthcheck:" in text
    assert "network_mode: host" in text.split("\n  serving-host:\n", 1)[1]
    services = yaml.safe_load(text)["services"]
    assert set(services) == {"serving", "serving-host", "serving-gpu"}
    for name, service in services.items():
        assert_confined_by_compose(service, SERVER_USER, 8 << 30)
        if name != "serving-host":
            assert published(service) == {("127.0.0.1", 8500), ("127.0.0.1", 8501)}, name
    relaxed = {
        "TF_SERVING_IMAGE": SERVER_IMAGE,
        "TF_SERVING_REST_PORT": "9501",
        "TF_SERVING_PUBLISH_ADDRESS": "0.0.0.0",
        "TF_SERVING_USER": "1234:1234",
        "TF_SERVING_MEMORY": "2g",
    }
    overridden = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**env, **relaxed})
    assert overridden.returncode == 0, overridden.stderr
    assert f"image: {SERVER_IMAGE}" in overridden.stdout and "--rest_api_port=9501" in overridden.stdout
    service = yaml.safe_load(overridden.stdout)["services"]["serving"]
    assert published(service) == {("0.0.0.0", 8500), ("0.0.0.0", 9501)}
    assert_confined_by_compose(service, "1234:1234", 2 << 30)


def assert_confined_by_compose(service: dict, user: str, memory: int) -> None:
    """The resolved service runs as `user`, read-only, without capabilities, privilege escalation or
    seccomp=unconfined, with a /tmp tmpfs and a `memory` byte limit (v1 keeps `8g`, v2 writes bytes)."""
    assert service["user"] == user and service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert not any("unconfined" in option for option in service["security_opt"])
    assert [t.split(":")[0] for t in service["tmpfs"]] == ["/tmp"]
    limit = str(service["mem_limit"])
    assert (int(limit[:-1]) << 30 if limit.endswith("g") else int(limit)) == memory


def published(service: dict) -> set[tuple[str, int]]:
    """(host address, port) of each published port, from v1's `ip:host:container/tcp` or v2's long form."""
    out = set()
    for port in service["ports"]:
        if isinstance(port, str):
            address, host_port = port.split(":")[:2]
            out.add((address, int(host_port)))
        else:
            out.add((port.get("host_ip", "0.0.0.0"), int(port["published"])))
    return out


def mounted_read_only(config_text: str, source: Path, target: str) -> bool:
    """A read-only bind mount, in v1's short (`src:dst:ro`) or v2's long `compose config` output."""
    return f"{source}:{target}:ro" in config_text or bool(
        re.search(rf"source: {re.escape(str(source))}\n\s+target: {re.escape(target)}\n\s+read_only: true", config_text)
    )


def _service_command(config_text: str) -> list[str]:
    """The `serving-host` service's resolved command list from `compose config` output."""
    block = config_text.split("\n  serving-host:\n", 1)[1]
    items = []
    for line in block.split("    command:\n", 1)[1].splitlines():
        if not line.startswith("    - "):
            break
        items.append(line[len("    - ") :])
    return items


def test_compose_stack_serves_all_three_models(server_image, models_repo, tmp_path):
    grpc_port, rest_port = free_port(), free_port()
    env = {
        "TF_SERVING_IMAGE": server_image,
        "COMPOSE_PROFILES": "host",
        "MODELS_DIR": str(models_repo),
        "TF_SERVING_GRPC_PORT": str(grpc_port),
        "TF_SERVING_REST_PORT": str(rest_port),
        "COMPOSE_PROJECT_NAME": f"kts-test-{os.getpid()}",
    }
    resolved = compose("config", env=env)
    assert resolved.returncode == 0, resolved.stderr
    # Same flags as the file, plus binding to loopback (the project's server has the flags for it).
    command = _service_command(resolved.stdout) + ["--grpc_host=127.0.0.1", "--rest_api_host=127.0.0.1"]
    override = tmp_path / "loopback.yml"
    override.write_text(json.dumps({"services": {"serving-host": {"command": command}}}))
    files = [ROOT / "docker-compose.yml", override]
    up = compose("up", "-d", "serving-host", env=env, files=files)
    try:
        assert up.returncode == 0, up.stderr
        import docker

        container_id = compose("ps", "-q", "serving-host", env=env, files=files).stdout.strip()
        container = docker.from_env().containers.get(container_id)
        launch.wait_healthy(container, timeout=480)
        assert_confined(container, memory=8 << 30)
        picture = sample_picture("china.jpg")
        with (
            RestClient(f"http://127.0.0.1:{rest_port}", timeout=300) as rest,
            GrpcClient(f"127.0.0.1:{grpc_port}", timeout=300) as grpc_client,
        ):
            for client in (rest, grpc_client):
                top = helpers.classify_image(client, picture, label="stable")
                assert len(top) == 5 and all(0.0 <= s <= 1.0 for _, s in top)
                detections = helpers.detect(client, picture)
                assert all(0 <= d.box[0] <= d.box[2] <= 640 and 0 <= d.box[1] <= d.box[3] <= 427 for d in detections)
                (image,) = helpers.generate(client, [7], psi=0.5)
                assert image.size[0] == image.size[1] and np.asarray(image).std() > 0
            over_rest, over_grpc = helpers.classify_image(rest, picture), helpers.classify_image(grpc_client, picture)
            assert [n for n, _ in over_rest] == [n for n, _ in over_grpc]
            assert_same_computation([s for _, s in over_rest], [s for _, s in over_grpc])
    finally:
        down = compose("down", "--timeout", "30", env=env, files=files)
        assert down.returncode == 0, down.stderr


def test_launch_starts_waits_healthy_and_stops(server_image, tmp_path):
    repo = tmp_path / "models"
    build_half_plus_two(repo / "hpt")
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "models.config").write_text(
        'model_config_list { config { name: "hpt" base_path: "/models/hpt" model_platform: "tensorflow" } }\n'
    )
    shutil.copy(CONFIG_DIR / "monitoring.config", config_dir / "monitoring.config")
    name = f"kts-launch-test-{os.getpid()}"
    grpc_port, rest_port = free_port(), free_port()
    try:
        endpoints = launch.start(
            models_dir=repo,
            image=server_image,
            name=name,
            grpc_port=grpc_port,
            rest_port=rest_port,
            network="host",
            config_dir=config_dir,
            loopback_only=True,
            timeout=300,
        )
        assert endpoints.rest == f"http://127.0.0.1:{rest_port}" and endpoints.grpc == f"127.0.0.1:{grpc_port}"
        with RestClient(endpoints.rest) as rest, GrpcClient(endpoints.grpc) as grpc_client:
            np.testing.assert_allclose(rest.predict("hpt", [4.0])["y"], [4.0])
            np.testing.assert_allclose(grpc_client.predict("hpt", [6.0])["y"], [5.0])
        import docker

        assert_confined(docker.from_env().containers.get(name), memory=8 << 30)
    finally:
        stopped = launch.stop(name)
    assert stopped and not launch.stop(name)


def test_server_image_runs_as_its_non_root_user(server_image):
    import docker

    client = docker.from_env()
    # uid 1000 and gid 0, as the model image and the official image under `runAsUser: 1000` (Dockerfile)
    assert client.images.get(server_image).attrs["Config"]["User"] == str(SERVER_UID)
    out = client.containers.run(server_image, entrypoint=["sh", "-c", "id -u; id -g"], remove=True, network_mode="none")
    assert out.decode().split() == [str(SERVER_UID), "0"]
