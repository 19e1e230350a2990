"""KServe's modelcar run with Docker: an InferenceService whose storageUri is `oci://` + the `--kserve`
model image of `python -m deploy.image.model_image`, served the way KServe's pod webhook sets it up
(kserve/kserve pkg/utils `ConfigureModelcarToContainer`, default storageInitializer settings):

- init container `modelcar-init` (the model image) checks that /models exists and is not empty;
- the runtime's container (`kserve-container`: the ServingRuntime's command and args with `{{.Name}}`
  filled in, the InferenceService's `args` appended and its resources) gets MODEL_INIT_MODE=async
  and an emptyDir at /mnt;
- sidecar `modelcar` (the model image, 10m CPU / 15Mi) runs
  `sh -c "ln -sf /proc/$$$$/root/models /mnt/models && sleep infinity"`: after the kubelet's `$$`
  unescaping the shell links its own /models to /mnt/models, which the server reaches through the
  shared process namespace (`shareProcessNamespace: true`).

Both the project's ServingRuntime (deploy/kserve/custom-runtime) and KServe's stock
`kserve-tensorflow-serving` runtime (its container copied below from kserve/kserve
config/runtimes/kserve-tensorflow-serving.yaml), with the project's server image for
tensorflow/serving; the runtime's probes, then predictions through the project's clients.
Deviations forced by this machine as in test_pods.py (host network, free loopback ports).
"""

from __future__ import annotations

import copy
import os

import pytest

from clients import tasks as helpers
from clients.tfs_grpc import GrpcClient
from clients.tfs_rest import RestClient
from serving.testing.server_process import accepts_connections, wait_for
from tests.deploy.manifests import DEPLOY, by_kind, kustomize_command, render
from tests.deploy.pods import Pod
from tests.fixtures.pictures import sample_picture

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(kustomize_command() is None, reason="no kustomize: install kubectl or kustomize"),
]

MODEL = "efficientnet"
VOLUME = "kserve-provision-location"  # KServe's StorageInitializerVolumeName
STOCK_RUNTIME_CONTAINER = {  # KServe's ClusterServingRuntime kserve-tensorflow-serving
    "name": "kserve-container",
    "image": "tensorflow/serving:2.21.0",
    "command": ["/usr/bin/tensorflow_model_server"],
    "args": [
        "--model_name={{.Name}}",
        "--port=9000",
        "--rest_api_port=8080",
        "--model_base_path=/mnt/models",
        "--rest_api_timeout_in_ms=60000",
    ],
    "securityContext": {
        "runAsUser": 1000,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    },
    "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
}
MODELCAR_RESOURCES = {"requests": {"cpu": "10m", "memory": "15Mi"}, "limits": {"cpu": "10m", "memory": "15Mi"}}


@pytest.fixture(scope="module")
def kserve_image(server_image, efficientnet_export):
    from deploy.image import model_image

    tag = f"kts-test-modelcar:{os.getpid()}"
    assert model_image.build(efficientnet_export.parents[1], tag, [MODEL], kserve=True) == {MODEL: [1]}
    yield tag
    import docker

    docker.from_env().images.remove(tag, force=True)


def predictor_pod(runtime: dict, runtime_volumes: list[dict], isvc: dict) -> dict:
    """The pod KServe makes for `isvc` on `runtime` with an oci:// storageUri (modelcar enabled)."""
    model = isvc["spec"]["predictor"]["model"]
    name = isvc["metadata"]["name"]
    image = model["storageUri"].removeprefix("oci://")
    server = copy.deepcopy(runtime)
    server["args"] = [a.replace("{{.Name}}", name) for a in server.get("args", [])] + model.get("args", [])
    server["resources"] = {**server.get("resources", {}), **model.get("resources", {})}
    server["env"] = server.get("env", []) + [{"name": "MODEL_INIT_MODE", "value": "async"}]
    server["volumeMounts"] = server.get("volumeMounts", []) + [{"name": VOLUME, "mountPath": "/mnt"}]
    modelcar = {
        "name": "modelcar",
        "image": image,
        "resources": MODELCAR_RESOURCES,
        "volumeMounts": [{"name": VOLUME, "mountPath": "/mnt"}],
        "args": ["sh", "-c", "ln -sf /proc/$$$$/root/models /mnt/models && sleep infinity"],
    }
    check = (
        "echo 'Pre-fetching modelcar " + image + ': \' && [ -d /models ] && [ "$$(ls -A /models)" ] && '
        "echo 'OK ... Prefetched and valid (/models exists)' || "
        "(echo 'NOK ... Prefetched but modelcar is invalid (/models does not exist or is empty)' && exit 1)"
    )
    init = {"name": "modelcar-init", "image": image, "resources": MODELCAR_RESOURCES, "args": ["sh", "-c", check]}
    return {
        "securityContext": isvc["spec"]["predictor"].get("securityContext", {}),
        "shareProcessNamespace": True,
        "initContainers": [init],
        "containers": [server, modelcar],
        "volumes": runtime_volumes + [{"name": VOLUME, "emptyDir": {}}],
    }


def wait_for_port(container, port: int, limit_s: float = 600.0) -> None:
    def open_while_running() -> bool:
        if accepts_connections(port):
            return True
        container.reload()
        assert container.status == "running", container.logs(tail=40).decode(errors="replace")
        return False

    wait_for(open_while_running, limit_s, f"port {port} to open", interval=1.0)


@pytest.mark.parametrize("runtime", ["custom", "stock"])
def test_oci_storage_uri_serves_through_the_modelcar(runtime, kserve_image, server_image, tmp_path):
    if runtime == "custom":
        resources = render(DEPLOY / "kserve" / "custom-runtime")
        (serving_runtime,) = by_kind(resources, "ServingRuntime").values()
        (config_map,) = by_kind(resources, "ConfigMap").values()
        (container,) = serving_runtime["spec"]["containers"]
        volumes = serving_runtime["spec"]["volumes"]
    else:
        resources = render(DEPLOY / "kserve" / "base")
        container, volumes, config_map = STOCK_RUNTIME_CONTAINER, [], None
    isvc = by_kind(resources, "InferenceService")[MODEL]
    assert isvc["spec"]["predictor"]["model"]["storageUri"].startswith("oci://")
    spec = predictor_pod(container, volumes, isvc)
    (init,), (server, modelcar) = spec["initContainers"], spec["containers"]
    images = {"tensorflow/serving": server_image, modelcar["image"].split(":")[0]: kserve_image}
    pod = Pod(spec, config_map, images, tmp_path, ports=(9000, 8080))
    try:
        assert b"OK ... Prefetched and valid" in pod.run(init, detach=False)
        started = pod.run(server, detach=True)  # the kubelet starts the containers in order: the server first
        pod.run(modelcar, detach=True)
        if "startupProbe" in server:
            pod.await_probe(started, server["startupProbe"])
        else:  # the stock runtime has no probe: its ports open once the model is loaded
            wait_for_port(started, pod.rest_port)
        label = "stable" if runtime == "custom" else None
        picture = sample_picture("china.jpg")
        with (
            RestClient(f"http://127.0.0.1:{pod.rest_port}", timeout=300) as rest,
            GrpcClient(f"127.0.0.1:{pod.grpc_port}", timeout=300) as grpc_client,
        ):
            (status,) = rest.status(MODEL, label=label)
            assert status.state == "AVAILABLE" and status.version == 1
            for client in (rest, grpc_client):
                assert len(helpers.classify_image(client, picture, label=label)) == 5
        if "livenessProbe" in server:
            assert pod.probe(started, server["livenessProbe"])
        started.reload()
        assert started.status == "running"
    finally:
        pod.remove()
