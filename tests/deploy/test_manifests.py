"""deploy/: every kustomization and example renders with kustomize and validates, strictly, against the
Kubernetes schemas of a current release and KServe's own CRD schemas; and the manifests say what the
project promises (per-model Deployments, probes, security, Services, HPA, PDB, GPU, KServe runtime)."""

from __future__ import annotations

import copy
import re

import pytest

from deploy.image import CONFIG_DIR, launch
from tests.deploy.manifests import DEPLOY, by_kind, kustomize_command, load_yaml_file, overlay, render, validate

K8S = DEPLOY / "kubernetes"
KSERVE = DEPLOY / "kserve"
MODELS = ("efficientnet", "detr", "stylegan")
COMPONENTS = ("image-volume", "object-storage", "request-rate-hpa", "tracing")
RENDERED = (
    "kubernetes/overlays/cpu",
    "kubernetes/overlays/gpu",
    "kubernetes/base",
    "kserve/base",
    "kserve/custom-runtime",
    "kserve/open-inference",
)

pytestmark = pytest.mark.skipif(kustomize_command() is None, reason="no kustomize: install kubectl or kustomize")


@pytest.fixture(scope="module")
def cpu():
    return render(K8S / "overlays" / "cpu")


@pytest.fixture(scope="module")
def gpu():
    return render(K8S / "overlays" / "gpu")


def _flag(args: list[str], name: str) -> str | None:
    return next((a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")), None)


@pytest.mark.parametrize("path", RENDERED)
def test_kustomizations_render_and_validate_strictly(path):
    resources = render(DEPLOY / path)
    assert resources
    for resource in resources:
        validate(resource)


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_component_over_each_overlay_renders_and_validates(component, tmp_path):
    for name in ("cpu", "gpu"):
        directory = tmp_path / name
        directory.mkdir()
        resources = render(overlay(directory, [K8S / "overlays" / name], [K8S / "components" / component]))
        assert resources, f"{component} over {name} rendered nothing"
        for resource in resources:
            validate(resource)


@pytest.mark.parametrize("example", sorted(p.name for p in (KSERVE / "examples").glob("*.yaml")))
def test_kserve_examples_validate(example):
    resources = load_yaml_file(KSERVE / "examples" / example)
    assert resources, f"{example} holds no resource"
    for resource in resources:
        validate(resource)


def test_validation_rejects_unknown_fields(cpu):
    deployment = copy.deepcopy(by_kind(cpu, "Deployment")["detr"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = []
    with pytest.raises(Exception, match="livenessProbes"):
        validate(deployment)
    isvc = copy.deepcopy(load_yaml_file(KSERVE / "base" / "detr.yaml")[0])
    isvc["spec"]["predictor"]["model"]["storageURI"] = "oci://x/y:1"
    with pytest.raises(AssertionError, match="storageURI"):
        validate(isvc)
    isvc = copy.deepcopy(load_yaml_file(KSERVE / "examples" / "canary.yaml")[0])
    isvc["spec"]["predictor"]["canaryTrafficPercent"] = "ten"
    with pytest.raises(AssertionError, match="canaryTrafficPercent"):
        validate(isvc)


def test_one_deployment_per_model_with_its_config_probes_and_security(cpu):
    deployments, config_maps = by_kind(cpu, "Deployment"), by_kind(cpu, "ConfigMap")
    assert sorted(deployments) == sorted(MODELS)
    (config_map,) = config_maps.values()
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (server,), (init,) = pod["containers"], pod["initContainers"]
        assert re.fullmatch(r"tensorflow/serving:\d+\.\d+\.\d+", server["image"])
        assert server["command"] == ["/usr/bin/tensorflow_model_server"]
        args = server["args"]
        config_file = _flag(args, "model_config_file")
        assert config_file == f"/config/{name}.config"
        model_config = config_map["data"][f"{name}.config"]
        assert f'name: "{name}"' in model_config and f'base_path: "/models/{name}"' in model_config
        assert _flag(args, "monitoring_config_file") == "/config/monitoring.config"
        assert _flag(args, "enable_grpc_healthcheck_service") == "true"
        assert (_flag(args, "enable_batching") == "true") == (name == "efficientnet")
        assert init["command"] == ["/bin/cp", "-R", f"/models/{name}", "/repository/"]
        assert init["image"] == "keras-to-serving/models:1"
        for container in (server, init):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["limits"] and container["resources"]["requests"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert server["startupProbe"]["grpc"]["port"] == 8500 and server["livenessProbe"]["grpc"]["port"] == 8500
        assert server["readinessProbe"]["exec"]["command"] == ["bash", "/config/healthcheck.sh", "8501", config_file]
        pre_stop = server["lifecycle"]["preStop"]["sleep"]["seconds"]
        # preStop + the server's drain (REST requests up to the timeout, gRPC grace 30 s) fit the grace period.
        assert pod["terminationGracePeriodSeconds"] >= pre_stop + int(_flag(args, "rest_api_timeout_in_ms")) / 1000
        # Clients of the headless Service resolve its name again only when a connection closes: the
        # server ages connections out, so pods the HPA adds get calls; in-flight calls keep the drain's grace.
        channel = dict(item.split("=") for item in _flag(args, "grpc_channel_arguments").split(","))
        assert 0 < int(channel["grpc.max_connection_age_ms"]) <= 300_000
        assert (
            0
            < int(channel["grpc.max_connection_age_grace_ms"])
            <= 1000 * (pod["terminationGracePeriodSeconds"] - pre_stop)
        )
        keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    startup = {n: d["spec"]["template"]["spec"]["containers"][0]["startupProbe"] for n, d in deployments.items()}
    budget = {n: p["periodSeconds"] * p["failureThreshold"] for n, p in startup.items()}
    assert budget["detr"] >= 600 and budget["detr"] == max(budget.values())  # DETR loads and warms up longest


def test_services_hpa_and_pdb_per_model(cpu):
    services, hpas, pdbs = (
        by_kind(cpu, "Service"),
        by_kind(cpu, "HorizontalPodAutoscaler"),
        by_kind(cpu, "PodDisruptionBudget"),
    )
    for name in MODELS:
        rest, grpc_service = services[name]["spec"], services[f"{name}-grpc"]["spec"]
        assert rest["type"] == "ClusterIP" and rest["ports"][0]["port"] == 8501
        assert grpc_service["clusterIP"] == "None" and grpc_service["ports"][0]["port"] == 8500
        assert rest["selector"] == grpc_service["selector"] == pdbs[name]["spec"]["selector"]["matchLabels"]
        hpa = hpas[name]["spec"]
        assert hpa["scaleTargetRef"]["name"] == name and hpa["minReplicas"] >= 2  # the PDB allows one disruption
        assert hpa["metrics"][0]["resource"]["name"] == "cpu"


def test_request_rate_variant_uses_the_adapter_metric(tmp_path):
    resources = render(overlay(tmp_path, [K8S / "overlays" / "cpu"], [K8S / "components" / "request-rate-hpa"]))
    import yaml

    rules = yaml.safe_load((K8S / "components" / "request-rate-hpa" / "prometheus-adapter-rules.yaml").read_text())
    (rule,) = rules["rules"]
    assert ":tensorflow:serving:request_count" in rule["seriesQuery"]
    for hpa in by_kind(resources, "HorizontalPodAutoscaler").values():
        (metric,) = hpa["spec"]["metrics"]
        assert metric["pods"]["metric"]["name"] == rule["name"]["as"]


def test_gpu_overlay_uses_the_gpu_image_and_requests_gpus(gpu):
    for deployment in by_kind(gpu, "Deployment").values():
        (server,) = deployment["spec"]["template"]["spec"]["containers"]
        assert re.fullmatch(r"tensorflow/serving:\d+\.\d+\.\d+-gpu", server["image"])
        assert server["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_image_volume_component_mounts_the_model_image(tmp_path, cpu):
    resources = render(
        overlay(
            tmp_path,
            [K8S / "overlays" / "cpu"],
            [K8S / "components" / "image-volume"],
            {"images": [{"name": "keras-to-serving/models", "newName": "registry.example.com/m", "newTag": "7"}]},
        )
    )
    (tmp_path / "default").mkdir()
    default = render(overlay(tmp_path / "default", [K8S / "overlays" / "cpu"], [K8S / "components" / "image-volume"]))
    for name, deployment in by_kind(resources, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert not pod.get("initContainers")
        (models,) = [v for v in pod["volumes"] if v["name"] == "models"]
        assert models == {
            "name": "models",
            "image": {"reference": "registry.example.com/m:7", "pullPolicy": "IfNotPresent"},
        }
        mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "models")
        assert (mount["mountPath"], mount["subPath"]) == ("/models", "models")
        # Without an override the volume names the same image as the base's init container.
        default_pod = by_kind(default, "Deployment")[name]["spec"]["template"]["spec"]
        init_image = by_kind(cpu, "Deployment")[name]["spec"]["template"]["spec"]["initContainers"][0]["image"]
        assert next(v for v in default_pod["volumes"] if v["name"] == "models")["image"]["reference"] == init_image


def test_config_copies_match_the_image_originals():
    # kustomize only reads files under the kustomization, so these are copies of deploy/image/config; keep
    # them identical.
    copies = {
        K8S / "base" / "config": ("monitoring.config", "batching.config", "healthcheck.sh"),
        KSERVE / "custom-runtime" / "config": ("monitoring.config", "batching.config"),
    }
    for copy_dir, names in copies.items():
        for name in names:
            assert (copy_dir / name).read_text() == (CONFIG_DIR / name).read_text(), copy_dir / name


def _all_resources(tmp_path) -> dict[str, list[dict]]:
    """Every kustomization, every component over the cpu overlay, and every KServe example, rendered."""
    out = {path: render(DEPLOY / path) for path in RENDERED}
    for component in COMPONENTS:
        (tmp_path / component).mkdir()
        out[component] = render(
            overlay(tmp_path / component, [K8S / "overlays" / "cpu"], [K8S / "components" / component])
        )
    for example in sorted((KSERVE / "examples").glob("*.yaml")):
        out[f"kserve/examples/{example.name}"] = load_yaml_file(example)
    return out


def _pods(resource: dict) -> list[tuple[dict, list[dict]]]:
    """(pod-level spec, containers) of a Deployment's template, an InferenceService's predictor or a
    ServingRuntime (whose containers KServe puts into the predictor's pod)."""
    kind = resource["kind"]
    if kind == "Deployment":
        pod = resource["spec"]["template"]["spec"]
        return [(pod, pod.get("initContainers", []) + pod["containers"])]
    if kind == "InferenceService":
        predictor = resource["spec"]["predictor"]
        return [(predictor, predictor.get("containers", []))]
    if kind == "ServingRuntime":
        return [({}, resource["spec"]["containers"])]
    return []


def test_every_pod_runs_under_the_runtime_default_seccomp_profile(tmp_path):
    # Kubernetes runs a container Unconfined unless told (or the kubelet's --seccomp-default is on).
    for source, resources in _all_resources(tmp_path).items():
        for resource in resources:
            for pod, containers in _pods(resource):
                pod_level = pod.get("securityContext", {}).get("seccompProfile", {}).get("type")
                for container in containers:
                    own = container.get("securityContext", {}).get("seccompProfile", {}).get("type")
                    assert (own or pod_level) == "RuntimeDefault", (source, resource["metadata"]["name"])
                if resource["kind"] == "InferenceService":  # KServe adds the modelcar / storage initializer
                    assert pod_level == "RuntimeDefault", (source, resource["metadata"]["name"])


def test_every_image_is_pinned(tmp_path):
    for source, resources in _all_resources(tmp_path).items():
        for resource in resources:
            images = [c["image"] for _, containers in _pods(resource) for c in containers if "image" in c]
            if resource["kind"] == "Deployment":
                pod = resource["spec"]["template"]["spec"]
                images += [v["image"]["reference"] for v in pod.get("volumes", []) if "image" in v]
            for image in images:
                name, _, tag = image.rpartition(":")
                assert ("@sha256:" in image) or (name and "/" not in tag and tag not in ("", "latest")), (source, image)


def test_servers_carry_the_request_limits_and_keep_model_management_local(cpu):
    """The values docker-compose.yml and deploy.image.launch use (deploy/image/launch.py)."""
    runtime = by_kind(render(KSERVE / "custom-runtime"), "ServingRuntime")["kts-tensorflow-serving"]
    servers = [d["spec"]["template"]["spec"]["containers"][0] for d in by_kind(cpu, "Deployment").values()]
    for container in [*servers, runtime["spec"]["containers"][0]]:
        args = container["args"]
        channel = dict(item.split("=") for item in _flag(args, "grpc_channel_arguments").split(","))
        assert int(channel["grpc.max_receive_message_length"]) == launch.MAX_REQUEST_BYTES
        assert int(_flag(args, "max_request_body_bytes")) == launch.MAX_REQUEST_BYTES
        assert int(_flag(args, "max_tensor_elements")) == launch.MAX_TENSOR_ELEMENTS
        assert _flag(args, "model_management") == "loopback"
    for isvc in by_kind(render(KSERVE / "base"), "InferenceService").values():  # the stock runtime: official flags
        args = isvc["spec"]["predictor"]["model"]["args"]
        assert _flag(args, "grpc_channel_arguments") == f"grpc.max_receive_message_length={launch.MAX_REQUEST_BYTES}"


def _admits_only_declared_clients(policy: dict) -> list:
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    (peer,) = rule["from"]
    assert peer == {
        "namespaceSelector": {"matchLabels": {"keras-to-serving/clients": "true"}},
        "podSelector": {"matchLabels": {"keras-to-serving/client": "true"}},
    }
    return [port["port"] for port in rule["ports"]]


def test_network_policy_admits_only_declared_clients_to_the_ports(cpu, tmp_path):
    (policy,) = by_kind(cpu, "NetworkPolicy").values()
    ports = _admits_only_declared_clients(policy)
    selector = policy["spec"]["podSelector"]["matchLabels"]
    for name, deployment in by_kind(cpu, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name  # every serving pod is isolated by it
        (server,) = deployment["spec"]["template"]["spec"]["containers"]
        assert sorted(ports) == sorted(p["name"] for p in server["ports"])
    (namespace,) = by_kind(cpu, "Namespace").values()
    assert namespace["metadata"]["labels"]["keras-to-serving/clients"] == "true"
    for resources in _all_resources(tmp_path).values():  # every variant keeps it
        if any(r["kind"] == "Deployment" for r in resources):
            assert by_kind(resources, "NetworkPolicy") == by_kind(cpu, "NetworkPolicy")
    (example,) = load_yaml_file(KSERVE / "examples" / "networkpolicy.yaml")
    assert sorted(_admits_only_declared_clients(example)) == [8080, 9000]
    runtime = by_kind(render(KSERVE / "custom-runtime"), "ServingRuntime")["kts-tensorflow-serving"]
    assert [_flag(runtime["spec"]["containers"][0]["args"], p) for p in ("rest_api_port", "port")] == ["8080", "9000"]


def test_the_open_inference_runtime_declares_both_protocols_and_serves_them():
    """deploy/kserve/open-inference: the project's server (which answers /v2 and inference.GRPCInferenceService
    beside TF Serving's API) as a ServingRuntime declaring v1 and v2 over REST and gRPC, the custom runtime's
    flags and config unchanged, and every InferenceService on it asking for v2; so does the example."""
    custom = by_kind(render(KSERVE / "custom-runtime"), "ServingRuntime")["kts-tensorflow-serving"]
    resources = render(KSERVE / "open-inference")
    (runtime,) = by_kind(resources, "ServingRuntime").values()
    assert runtime["metadata"]["name"] == "kts-serving"
    assert runtime["spec"]["protocolVersions"] == ["v1", "grpc-v1", "v2", "grpc-v2"]
    (container,) = runtime["spec"]["containers"]
    assert container["image"].startswith("keras-to-serving/server:")
    assert container["args"] == custom["spec"]["containers"][0]["args"]
    assert by_kind(resources, "ConfigMap") == by_kind(render(KSERVE / "custom-runtime"), "ConfigMap")
    services = by_kind(resources, "InferenceService")
    assert sorted(services) == sorted(MODELS)
    (example,) = load_yaml_file(KSERVE / "examples" / "open-inference.yaml")
    for isvc in [*services.values(), example]:
        model = isvc["spec"]["predictor"]["model"]
        assert model["runtime"] == "kts-serving" and model["protocolVersion"] == "v2"
        assert model["modelFormat"] == {"name": "tensorflow", "version": "2"}


def test_kserve_inference_services_and_custom_runtime():
    stock = by_kind(render(KSERVE / "base"), "InferenceService")
    custom = render(KSERVE / "custom-runtime")
    (runtime,) = by_kind(custom, "ServingRuntime").values()
    (config_map,) = by_kind(custom, "ConfigMap").values()
    (container,) = runtime["spec"]["containers"]
    assert container["command"] == ["/usr/bin/tensorflow_model_server"]
    assert _flag(container["args"], "model_config_file") == "/etc/kts/{{.Name}}.config"
    assert _flag(container["args"], "monitoring_config_file") == "/etc/kts/monitoring.config"
    assert runtime["spec"]["volumes"][0]["configMap"]["name"] == config_map["metadata"]["name"]
    for name in MODELS:
        model = stock[name]["spec"]["predictor"]["model"]
        assert model["modelFormat"]["name"] == "tensorflow" and model["runtime"] == "kserve-tensorflow-serving"
        assert model["storageUri"].startswith("oci://")
        predictor = stock[name]["spec"]["predictor"]
        assert predictor["minReplicas"] >= 1 and predictor["maxReplicas"] > predictor["minReplicas"]
        assert predictor["scaleMetric"] == "cpu" and predictor["scaleTarget"] > 0
        text = config_map["data"][f"{name}.config"]
        assert f'name: "{name}"' in text and 'base_path: "/mnt/models"' in text and "version_labels" in text
        assert (
            by_kind(custom, "InferenceService")[name]["spec"]["predictor"]["model"]["runtime"]
            == runtime["metadata"]["name"]
        )
    canary = load_yaml_file(KSERVE / "examples" / "canary.yaml")[0]
    assert 0 < canary["spec"]["predictor"]["canaryTrafficPercent"] < 100


def test_object_storage_component_has_the_server_read_the_bucket_without_an_init_container(tmp_path, cpu):
    resources = render(overlay(tmp_path, [K8S / "overlays" / "cpu"], [K8S / "components" / "object-storage"]))
    (config_map,) = by_kind(resources, "ConfigMap").values()
    for name, deployment in by_kind(resources, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (server,) = pod["containers"]
        assert not pod.get("initContainers")
        assert re.fullmatch(r"keras-to-serving/server:\d+\.\d+\.\d+", server["image"])  # reads s3:// and gs://
        model_config = config_map["data"][f"{name}.config"]
        assert re.search(rf'base_path: "(s3|gs)://[^"]+/{name}"', model_config)
        assert "version_labels" in model_config  # the base's policy and labels kept
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "models" not in volumes
        cache_dir = _flag(server["args"], "object_storage_cache_dir")
        (mount,) = [m for m in server["volumeMounts"] if m["mountPath"] == cache_dir]
        limit = volumes[mount["name"]]["emptyDir"]["sizeLimit"]
        assert int(_flag(server["args"], "object_storage_cache_bytes")) < int(limit.removesuffix("Gi")) << 30
        assert server["envFrom"] == [{"secretRef": {"name": "models-storage", "optional": True}}]
        assert server["securityContext"]["readOnlyRootFilesystem"] is True
        base = by_kind(cpu, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
        assert server["args"][: len(base["args"])] == base["args"]  # the base's flags, then the cache's


def test_kserve_object_storage_example_has_the_server_read_the_bucket():
    resources = load_yaml_file(KSERVE / "examples" / "object-storage.yaml")
    (isvc,) = by_kind(resources, "InferenceService").values()
    (config_map,) = by_kind(resources, "ConfigMap").values()
    predictor = isvc["spec"]["predictor"]
    model = predictor["model"]
    assert "storageUri" not in model  # so KServe adds no storage-initializer init container
    assert model["runtime"] == "kts-tensorflow-serving"
    assert re.fullmatch(r"keras-to-serving/server:\d+\.\d+\.\d+", model["image"])
    config_file = _flag(model["args"], "model_config_file")
    mounts = {m["mountPath"]: m["name"] for m in model["volumeMounts"]}
    volumes = {v["name"]: v for v in predictor["volumes"]}
    directory, _, file = config_file.rpartition("/")
    assert volumes[mounts[directory]]["configMap"]["name"] == config_map["metadata"]["name"]
    assert re.search(r'base_path: "(s3|gs)://', config_map["data"][file])
    cache = volumes[mounts[_flag(model["args"], "object_storage_cache_dir")]]["emptyDir"]["sizeLimit"]
    assert int(_flag(model["args"], "object_storage_cache_bytes")) < int(cache.removesuffix("Gi")) << 30
    assert predictor["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"


def test_tracing_component_turns_on_traces_to_the_collector_and_the_access_log(tmp_path, cpu):
    from serving import tracing

    resources = render(overlay(tmp_path, [K8S / "overlays" / "cpu"], [K8S / "components" / "tracing"]))
    for name, deployment in by_kind(resources, "Deployment").items():
        (server,) = deployment["spec"]["template"]["spec"]["containers"]
        assert re.fullmatch(r"keras-to-serving/server:\d+\.\d+\.\d+", server["image"])  # the official one has none
        env = {e["name"]: e for e in server["env"]}
        plain = {key: e["value"] for key, e in env.items() if "value" in e}
        assert tracing.exporter_names(plain) == ["otlp_proto_http"]  # what the server makes of them
        assert plain["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://") and plain[
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        ].endswith(":4318")
        label = env["OTEL_SERVICE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"]
        assert label == "metadata.labels['app.kubernetes.io/component']"
        assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == name
        # $(VAR) references resolve only to variables defined before them
        names = [e["name"] for e in server["env"]]
        for reference in re.findall(r"\$\((\w+)\)", plain["OTEL_RESOURCE_ATTRIBUTES"]):
            assert names.index(reference) < names.index("OTEL_RESOURCE_ATTRIBUTES")
        assert _flag(server["args"], "access_log") == "stderr"
        base = by_kind(cpu, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
        assert server["args"][: len(base["args"])] == base["args"]
        assert server["securityContext"]["readOnlyRootFilesystem"] is True
