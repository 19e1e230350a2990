"""The cpu overlay's pods, run with Docker the way the kubelet would run them: the init container from
the model image built by `python -m deploy.image.model_image`, then the server container with the
manifest's command, args, env, volume mounts (emptyDir, the rendered ConfigMap), user and group,
read-only root filesystem, dropped capabilities and limits; then the manifest's own startup, readiness
and liveness probes (gRPC health, exec), requests through the project's clients, and SIGTERM within
the termination grace period.

Deviations, all forced by this machine: the project's server image replaces tensorflow/serving (no
registry); the daemon has no bridge, so the pod's network is the host's: the manifest's ports 8500 /
8501 become free loopback ports (in args, probes and the readiness command) and the server binds
127.0.0.1 only. Skipped with the reason when no Docker daemon can start.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from clients import tasks as helpers
from clients.tfs_grpc import GrpcClient
from clients.tfs_rest import RestClient
from tests.deploy.manifests import DEPLOY, by_kind, kustomize_command, render
from tests.deploy.pods import Pod, quantity_bytes
from tests.fixtures.docker import assert_confined
from tests.fixtures.pictures import sample_picture

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(kustomize_command() is None, reason="no kustomize: install kubectl or kustomize"),
]

OFFICIAL = "tensorflow/serving"


@pytest.fixture(scope="module")
def model_image(server_image, models_repo):
    from deploy.image import model_image

    tag = f"kts-test-models:{os.getpid()}"
    versions = model_image.build(models_repo, tag)
    assert versions == {"detr": [1], "efficientnet": [1], "stylegan": [1]}
    yield tag
    import docker

    docker.from_env().images.remove(tag, force=True)


@pytest.fixture(scope="module")
def cpu_overlay():
    return render(DEPLOY / "kubernetes" / "overlays" / "cpu")


@pytest.mark.parametrize("name", ["efficientnet", "detr", "stylegan"])
def test_deployment_pod_runs_probes_serves_and_drains(name, cpu_overlay, model_image, server_image, tmp_path):
    deployment = by_kind(cpu_overlay, "Deployment")[name]
    (config_map,) = by_kind(cpu_overlay, "ConfigMap").values()
    template = deployment["spec"]["template"]["spec"]
    (init,), (server,) = template["initContainers"], template["containers"]
    images = {OFFICIAL: server_image, init["image"].split(":")[0]: model_image}
    pod = Pod(template, config_map, images, tmp_path)
    try:
        pod.run(init, detach=False)  # raises ContainerError on a non-zero exit
        assert (pod.volumes["models"] / name / "1" / "saved_model.pb").is_file()
        container = pod.run(server, detach=True)
        pod.await_probe(container, server["startupProbe"])
        pod.await_probe(container, server["readinessProbe"])
        assert pod.probe(container, server["livenessProbe"])
        # As the manifest states it, seen from inside: uid/gid 1000, read-only root, no capabilities, no
        # privilege escalation, seccomp filtering (RuntimeDefault is Docker's default profile), the limit.
        assert_confined(container, memory=quantity_bytes(server["resources"]["limits"]["memory"]))

        picture = sample_picture("china.jpg")
        with (
            RestClient(f"http://127.0.0.1:{pod.rest_port}", timeout=300) as rest,
            GrpcClient(f"127.0.0.1:{pod.grpc_port}", timeout=300) as grpc_client,
        ):
            for client in (rest, grpc_client):
                if name == "efficientnet":
                    assert len(helpers.classify_image(client, picture, label="stable")) == 5
                elif name == "detr":
                    assert all(
                        0 <= d.box[0] <= d.box[2] <= 640 for d in helpers.detect(client, picture, label="stable")
                    )
                else:
                    (image,) = helpers.generate(client, [3], psi=0.5, label="stable")
                    assert np.asarray(image).std() > 0
        container.reload()
        usage = container.stats(stream=False)["memory_stats"].get("usage", 0)
        print(f"{name}: server container memory after warmup and requests: {usage / 2**20:.0f} MiB")

        grace = template["terminationGracePeriodSeconds"] - server["lifecycle"]["preStop"]["sleep"]["seconds"]
        container.stop(timeout=grace)  # SIGTERM; SIGKILL only after the grace period
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0, container.logs(tail=40).decode(errors="replace")
    finally:
        pod.remove()
