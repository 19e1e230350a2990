"""A Kubernetes pod spec run with Docker the way the kubelet would run it (tests/deploy/test_pods.py says what
this machine forces to differ): volumes, containers, probes, the kubelet's expansion of command and args."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from serving.testing.server_process import free_port


def quantity_bytes(text: str) -> int:
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    return int(float(text[:-2]) * units[text[-2:]]) if text[-2:] in units else int(text)


def _nano_cpus(quantity: str) -> int:
    """The manifest's CPU limit, capped at this machine's cores: Docker refuses a limit above them
    (a kubelet would instead not schedule the pod on so small a node)."""
    cores = float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)
    return int(min(cores, os.cpu_count() or 1) * 1e9)


def _expand(value: str, env: dict[str, str]) -> str:
    """The kubelet's expansion of a container's command and args: `$(NAME)` from the container's env
    (left as written when undefined), `$$` for a literal `$`."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
        value,
    )


class Pod:
    """A pod spec on Docker: volumes on the host, containers with host networking, the manifest's gRPC
    and REST ports (`ports`) moved to free loopback ports. With `shareProcessNamespace`, every
    container joins the first one's process namespace (a kubelet gives them a pause container's)."""

    def __init__(
        self, pod: dict, config_map: dict, images: dict[str, str], root: Path, ports: tuple[int, int] = (8500, 8501)
    ):
        import docker

        self.client = docker.from_env()
        self.spec, self.images, self.root = pod, images, root
        self.grpc_port, self.rest_port = free_port(), free_port()
        self.ports = {ports[0]: self.grpc_port, ports[1]: self.rest_port}
        self.volumes: dict[str, Path] = {}
        for volume in pod["volumes"]:
            path = root / volume["name"]
            path.mkdir()
            if "emptyDir" in volume:
                path.chmod(0o777)  # what the kubelet creates for an emptyDir
            else:
                assert volume["configMap"]["name"] == config_map["metadata"]["name"]
                for key, text in config_map["data"].items():
                    (path / key).write_text(text)
                    (path / key).chmod(0o644)
            self.volumes[volume["name"]] = path
        self.containers = []

    def _ported(self, values: list[str]) -> list[str]:
        out = []
        for value in values:
            for manifest_port, port in self.ports.items():
                value = value.replace(f"--port={manifest_port}", f"--port={port}").replace(
                    f"--rest_api_port={manifest_port}", f"--rest_api_port={port}"
                )
                value = str(port) if value == str(manifest_port) else value
            out.append(value)
        return out

    def run(self, container: dict, detach: bool):
        security = {**self.spec.get("securityContext", {}), **container.get("securityContext", {})}
        binds = {}
        for mount in container.get("volumeMounts", []):
            source = self.volumes[mount["name"]] / mount.get("subPath", "")
            binds[str(source)] = {"bind": mount["mountPath"], "mode": "ro" if mount.get("readOnly") else "rw"}
        environment = {e["name"]: e["value"] for e in container.get("env", [])}
        command = [_expand(c, environment) for c in container["command"]] if "command" in container else None
        args = [_expand(a, environment) for a in self._ported(container.get("args", []))]
        if any(a.startswith("--rest_api_port=") for a in args):  # the server
            args += ["--grpc_host=127.0.0.1", "--rest_api_host=127.0.0.1"]
        limits = container["resources"]["limits"]
        image = container["image"]
        image = self.images.get(image.split(":")[0], image)
        user = ":".join(
            str(security[k]) for k in ("runAsUser", "runAsGroup") if k in security
        ) or self.client.images.get(image).attrs["Config"].get("User", "")
        assert user.split(":")[0] not in ("", "0", "root"), f"{container['name']} would run as root"
        fs_group = self.spec.get("securityContext", {}).get("fsGroup")
        options = dict(
            image=image,
            entrypoint=command,
            command=args,
            user=user,
            group_add=[str(fs_group)] if fs_group is not None else [],
            read_only=security.get("readOnlyRootFilesystem", False),
            cap_drop=security.get("capabilities", {}).get("drop"),
            network_mode="host",
            volumes=binds,
            security_opt=["no-new-privileges"] if security.get("allowPrivilegeEscalation") is False else [],
            environment=environment,
            mem_limit=quantity_bytes(limits["memory"]),
            nano_cpus=_nano_cpus(limits["cpu"]),
        )
        if self.spec.get("shareProcessNamespace") and self.containers:
            options["pid_mode"] = f"container:{self.containers[0].id}"
        if not detach:
            output = self.client.containers.run(**options, remove=True, stderr=True)
            return output
        started = self.client.containers.run(**options, detach=True)
        self.containers.append(started)
        return started

    def probe(self, container, probe: dict) -> bool:
        """One probe attempt, as the kubelet makes it."""
        timeout = probe.get("timeoutSeconds", 1)
        if "grpc" in probe:
            port = self.ports[probe["grpc"]["port"]]
            try:
                with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                    answer = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(service=probe["grpc"].get("service", "")), timeout=timeout
                    )
                return answer.status == health_pb2.HealthCheckResponse.SERVING
            except grpc.RpcError:
                return False
        if "exec" in probe:
            return container.exec_run(self._ported(probe["exec"]["command"])).exit_code == 0
        raise AssertionError(f"probe kind not exercised here: {sorted(probe)}")

    def await_probe(self, container, probe: dict) -> None:
        """Succeeds within initialDelay + failureThreshold periods, or the kubelet would give up (its own schedule of
        attempts, not a poll until a condition holds: hence not `wait_for`)."""
        time.sleep(probe.get("initialDelaySeconds", 0))
        for _ in range(probe.get("failureThreshold", 3)):
            if self.probe(container, probe):
                return
            container.reload()
            assert container.status == "running", container.logs(tail=40).decode(errors="replace")
            time.sleep(probe.get("periodSeconds", 10))
        raise AssertionError(f"probe never succeeded: {probe}\n{container.logs(tail=40).decode(errors='replace')}")

    def remove(self) -> None:
        for container in self.containers:
            container.remove(force=True)
