"""`python -m deploy.image.launch`: run TensorFlow Serving in Docker for a models folder, wait until it is healthy.

    python -m deploy.image.launch start --models-dir models       # official image, ports 8500/8501
    python -m deploy.image.launch start --image keras-to-serving/server:latest --network host --loopback-only
    python -m deploy.image.launch stop

(`python -m serving.launch`, the older name, runs this.) The container gets the same command line as
docker-compose.yml (`tensorflow_model_server` with deploy/image/config mounted at /config, the request
limits) and the same confinement (non-root user, read-only root filesystem with a /tmp tmpfs, no
capabilities, no privilege escalation, Docker's default seccomp profile, a memory limit), and
config/healthcheck.sh as its healthcheck (every model in the model config AVAILABLE, every label on an
AVAILABLE version). `start` returns once Docker reports the container healthy and prints the endpoints;
it fails with the container's last log lines if the server exits or never gets there, and in one line
saying what to do when no daemon answers, the image cannot be pulled (then: the project's image, as
scripts/demo.sh does) or the network does not exist.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy.image import CONFIG_DIR, SERVER_USER

DEFAULT_IMAGE = "tensorflow/serving:2.21.0"
# What scripts/docker_setup.sh builds where no registry can be reached; never pulled.
PROJECT_IMAGE = "keras-to-serving/server:latest"
DEFAULT_NAME = "keras-to-serving"
DEFAULT_MEMORY = "8g"  # docker-compose.yml's mem_limit
SECOND_NS = 1_000_000_000

# The request limits docker-compose.yml and the manifests set. gRPC's message limit is an official
# channel argument; --max_request_body_bytes and --max_tensor_elements are the project's server's own
# flags (the official binary prints `unknown argument: --max_request_body_bytes=...` and its usage once
# at start-up, then serves without them).
MAX_REQUEST_BYTES = 64 << 20
MAX_TENSOR_ELEMENTS = 1 << 24
REQUEST_LIMIT_FLAGS = (
    f"--grpc_channel_arguments=grpc.max_receive_message_length={MAX_REQUEST_BYTES}",
    f"--max_request_body_bytes={MAX_REQUEST_BYTES}",
    f"--max_tensor_elements={MAX_TENSOR_ELEMENTS}",
)


class LaunchError(Exception):
    """A container that cannot start, or starts and fails: one line for the user."""


@dataclass(frozen=True)
class Endpoints:
    rest: str
    grpc: str


def model_names(config_file: Path) -> list[str]:
    """Model names in a text ModelServerConfig (what the healthcheck waits for)."""
    return re.findall(r'\bname\s*:\s*"([^"]+)"', config_file.read_text())


def server_flags(grpc_port: int, rest_port: int, config_name: str, loopback_only: bool) -> list[str]:
    flags = [
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        f"--model_config_file=/config/{config_name}",
        "--model_config_file_poll_wait_seconds=60",
        "--file_system_poll_wait_seconds=5",
        "--allow_version_labels_for_unavailable_models=true",
        "--monitoring_config_file=/config/monitoring.config",
        "--enable_model_warmup=true",
        "--rest_api_timeout_in_ms=120000",
        *REQUEST_LIMIT_FLAGS,
    ]
    if loopback_only:  # the project's server only: the official one has no bind-address flags
        flags += ["--grpc_host=127.0.0.1", "--rest_api_host=127.0.0.1"]
    return flags


def healthcheck(rest_port: int, config_name: str) -> dict:
    """Docker healthcheck running config/healthcheck.sh (the compose file's check) inside the container."""
    script = (CONFIG_DIR / "healthcheck.sh").read_text()
    return {
        "test": ["CMD", "bash", "-c", script, "healthcheck", str(rest_port), f"/config/{config_name}"],
        "interval": 2 * SECOND_NS,
        "timeout": 5 * SECOND_NS,
        "retries": 5,
        "start_period": 600 * SECOND_NS,
    }


def start(
    *,
    models_dir: Path,
    image: str = DEFAULT_IMAGE,
    name: str = DEFAULT_NAME,
    grpc_port: int = 8500,
    rest_port: int = 8501,
    network: str = "bridge",
    publish_address: str = "127.0.0.1",
    config_dir: Path = CONFIG_DIR,
    config_name: str = "models.config",
    loopback_only: bool = False,
    user: str = SERVER_USER,
    memory: str = DEFAULT_MEMORY,
    timeout: float = 600.0,
) -> Endpoints:
    """Start (replacing any container of the same name) and wait until healthy."""
    client = docker_client()
    stop(name)
    models = model_names(config_dir / config_name)
    if not models:
        raise LaunchError(f"{config_dir / config_name} names no models")
    has_network = network == "host" or bool(client.networks.list(names=[network]))
    ensure_image(client, image, has_network)
    if not has_network:
        raise LaunchError(
            f"this Docker daemon has no network named {network} (a daemon started with --bridge=none has no "
            "bridge): add --network host --loopback-only"
        )
    options = {}
    if network == "host":
        options["network_mode"] = "host"
    else:
        options["ports"] = {
            f"{grpc_port}/tcp": (publish_address, grpc_port),
            f"{rest_port}/tcp": (publish_address, rest_port),
        }
        options["network_mode"] = network
    container = client.containers.run(
        image,
        entrypoint=["tensorflow_model_server"],
        command=server_flags(grpc_port, rest_port, config_name, loopback_only),
        name=name,
        detach=True,
        init=True,
        volumes={
            str(Path(models_dir).resolve()): {"bind": "/models", "mode": "ro"},
            str(Path(config_dir).resolve()): {"bind": "/config", "mode": "ro"},
        },
        healthcheck=healthcheck(rest_port, config_name),
        restart_policy={"Name": "no"},
        **confinement(user, memory),
        **options,
    )
    wait_healthy(container, timeout)
    return Endpoints(rest=f"http://127.0.0.1:{rest_port}", grpc=f"127.0.0.1:{grpc_port}")


def confinement(user: str = SERVER_USER, memory: str = DEFAULT_MEMORY) -> dict:
    """docker-compose.yml's confinement as Docker SDK options. Docker's default seccomp profile applies
    (nothing here turns it off)."""
    return {
        "user": user,
        "read_only": True,
        "tmpfs": {"/tmp": "size=256m"},  # mounted noexec, nosuid, nodev (Docker's defaults)
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mem_limit": memory,
    }


def docker_client():
    """The Docker SDK's client of the daemon DOCKER_HOST names (or the default socket), which must answer."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as e:
        raise LaunchError(
            f"no Docker daemon answers ({' '.join(str(e).split())}): start one, e.g. `bash scripts/docker_setup.sh "
            "--daemon`"
        ) from None
    return client


def ensure_image(client, image: str, has_network: bool = True) -> None:
    """The image is present, or pulled; else one line on how to serve with the project's image, which
    scripts/docker_setup.sh builds without a registry (as scripts/demo.sh does when the pull fails)."""
    from docker.errors import APIError, ImageNotFound

    try:
        client.images.get(image)
        return
    except ImageNotFound:
        pass
    build = f"`bash scripts/docker_setup.sh` builds {PROJECT_IMAGE} without a registry"
    if image.startswith("keras-to-serving/"):  # the project's images are built here, never pulled
        raise LaunchError(f"{image} is not built on this machine: {build}")
    try:
        client.images.pull(image)
    except APIError as e:
        reason = " ".join(str(e.explanation or e).split())
        flags = f"--image {PROJECT_IMAGE}" + ("" if has_network else " --network host --loopback-only")
        raise LaunchError(
            f"cannot pull {image} ({reason}). To serve with the project's image instead: {build}, then add {flags}"
        ) from None


def wait_healthy(container, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        state = container.attrs["State"]
        if state["Status"] in ("exited", "dead"):
            raise LaunchError(
                f"container {container.name} exited with {state.get('ExitCode')}:\n"
                f"{container.logs(tail=40).decode(errors='replace')}"
            )
        if state.get("Health", {}).get("Status") == "healthy":
            return
        time.sleep(1.0)
    raise LaunchError(
        f"container {container.name} not healthy after {timeout:.0f} s:\n"
        f"{container.logs(tail=40).decode(errors='replace')}"
    )


def stop(name: str = DEFAULT_NAME, timeout: int = 30) -> bool:
    """Stop and remove the container; False when there was none."""
    from docker.errors import NotFound

    try:
        container = docker_client().containers.get(name)
    except NotFound:
        return False
    container.stop(timeout=timeout)
    container.remove(force=True)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploy.image.launch", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("start", help="start the serving container and wait until it is healthy")
    s.add_argument("--models-dir", type=Path, default=Path("models"))
    s.add_argument(
        "--image",
        default=DEFAULT_IMAGE,
        help=f"official image or keras-to-serving/server:latest (default {DEFAULT_IMAGE})",
    )
    s.add_argument("--name", default=DEFAULT_NAME)
    s.add_argument("--grpc-port", type=int, default=8500)
    s.add_argument("--rest-port", type=int, default=8501)
    s.add_argument("--network", default="bridge", help="bridge (ports published) or host")
    s.add_argument("--publish-address", default="127.0.0.1", help="host address for published ports (bridge)")
    s.add_argument(
        "--config-dir",
        type=Path,
        default=CONFIG_DIR,
        help="folder with models.config, monitoring.config and healthcheck.sh, mounted at /config "
        "(default deploy/image/config)",
    )
    s.add_argument("--config-name", default="models.config")
    s.add_argument(
        "--loopback-only",
        action="store_true",
        help="project image only: bind the server to 127.0.0.1 (useful with --network host)",
    )
    s.add_argument(
        "--user",
        default=SERVER_USER,
        help=f"UID:GID the server runs as (default {SERVER_USER}); it must be able to read the models",
    )
    s.add_argument("--memory", default=DEFAULT_MEMORY, help=f"container memory limit (default {DEFAULT_MEMORY})")
    s.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for healthy (default 600)")
    t = sub.add_parser("stop", help="stop and remove the serving container")
    t.add_argument("--name", default=DEFAULT_NAME)
    args = p.parse_args(argv)
    try:
        if args.command == "stop":
            print(f"stopped {args.name}" if stop(args.name) else f"no container named {args.name}")
            return 0
        endpoints = start(
            models_dir=args.models_dir,
            image=args.image,
            name=args.name,
            grpc_port=args.grpc_port,
            rest_port=args.rest_port,
            network=args.network,
            publish_address=args.publish_address,
            config_dir=args.config_dir,
            config_name=args.config_name,
            loopback_only=args.loopback_only,
            user=args.user,
            memory=args.memory,
            timeout=args.timeout,
        )
    except Exception as e:  # docker errors, timeouts, a server that exited: one line, exit 1
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"REST {endpoints.rest}\ngRPC {endpoints.grpc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
