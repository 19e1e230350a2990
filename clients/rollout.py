"""`python -m clients.rollout`: move a version label (promote, roll back) and keep the version policy
consistent with the labels.

    python -m clients.rollout promote efficientnet 3 --config deploy/image/config/models.config --grpc 127.0.0.1:8500
    python -m clients.rollout rollback efficientnet --config deploy/image/config/models.config --grpc 127.0.0.1:8500
    python -m clients.rollout promote detr 2 --config deploy/kubernetes/base/config/detr.config \
        --kustomize deploy/kubernetes/overlays/cpu
    python -m clients.rollout show --config deploy/image/config/models.config

Promoting version N of a model under label L (default `stable`):
1. N is loaded next to the labelled versions (policy `specific`, written to the config file first so
   a server polling the file agrees) and the command waits until N is AVAILABLE (GetModelStatus);
2. L moves to N, `L-previous` to the version L left, and the policy becomes exactly the labelled
   versions: a label can never dangle however many versions are exported later (with
   `latest { num_versions: 2 }`, `stable -> 1` did after two more exports);
3. the server gets the final config (HandleReloadConfigRequest: the whole list, as officially) and
   the file is rewritten. If N fails to load, the original config goes back.
`rollback` swaps L and `L-previous` the same way. Without `--grpc` only the file changes (a server
polling it, or a Kubernetes ConfigMap: `--kustomize DIR` prints the ConfigMap that `kubectl apply -k`
would apply; the rolled pods' readiness probe then waits for the labelled versions).
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import text_format

from clients.errors import ServingError
from clients.tfs_grpc import GrpcClient
from protocol.generated.tensorflow_serving.config import model_server_config_pb2

ModelServerConfig = model_server_config_pb2.ModelServerConfig
DEFAULT_LABEL = "stable"


class RolloutError(Exception):
    """A refused or failed rollout step: one line for the user."""


def previous_label(label: str) -> str:
    return f"{label}-previous"


def read_config(path: Path) -> ModelServerConfig:
    try:
        return text_format.Parse(path.read_text(), ModelServerConfig())
    except (OSError, text_format.ParseError) as e:
        raise RolloutError(f"cannot read {path}: {e}") from e


def write_config(path: Path, config: ModelServerConfig, header: str = "") -> None:
    """Atomic replace: a server polling the file never reads half of it."""
    text = header + text_format.MessageToString(config)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        f.write(text)
    os.chmod(f.name, 0o644)
    os.replace(f.name, path)


def leading_comments(path: Path) -> str:
    lines = []
    for line in path.read_text().splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


def _model(config: ModelServerConfig, name: str):
    for model in config.model_config_list.config:
        if model.name == name:
            return model
    raise RolloutError(
        f"model {name} is not in the config "
        f"(it has {', '.join(m.name for m in config.model_config_list.config) or 'none'})"
    )


def with_versions(config: ModelServerConfig, name: str, extra: Sequence[int] = ()) -> ModelServerConfig:
    """A copy whose policy for `name` loads exactly its labelled versions plus `extra`."""
    out = copy.deepcopy(config)
    model = _model(out, name)
    versions = sorted(set(model.version_labels.values()) | set(extra))
    if versions:
        model.model_version_policy.Clear()
        model.model_version_policy.specific.versions.extend(versions)
    return out


def promoted(config: ModelServerConfig, name: str, version: int, label: str = DEFAULT_LABEL) -> ModelServerConfig:
    """`label` -> version, `label-previous` -> the version it left, policy = the labelled versions."""
    out = copy.deepcopy(config)
    labels = _model(out, name).version_labels
    current = labels.get(label)
    if current is not None and current != version:
        labels[previous_label(label)] = current
    labels[label] = version
    return with_versions(out, name)


def rolled_back(config: ModelServerConfig, name: str, label: str = DEFAULT_LABEL) -> tuple[ModelServerConfig, int]:
    labels = _model(config, name).version_labels
    if previous_label(label) not in labels:
        raise RolloutError(f"{name} has no {previous_label(label)} label: nothing to roll back to")
    return promoted(config, name, labels[previous_label(label)], label), labels[previous_label(label)]


def describe(config: ModelServerConfig) -> str:
    lines = []
    for model in config.model_config_list.config:
        policy = model.model_version_policy
        kind = policy.WhichOneof("policy_choice") or "latest"
        if kind == "specific":
            detail = " ".join(map(str, policy.specific.versions))
        elif kind == "latest":
            detail = f"{policy.latest.num_versions or 1} newest"
        else:
            detail = "all"
        labels = ", ".join(f"{k} -> {v}" for k, v in sorted(model.version_labels.items())) or "no labels"
        lines.append(f"{model.name}: loads {detail}; {labels}")
    return "\n".join(lines)


class Server:
    """The running server, through the project's gRPC client (GetModelStatus, HandleReloadConfigRequest)."""

    def __init__(self, target: str, timeout: float):
        self.client = GrpcClient(target, timeout=max(timeout, 60.0))
        self.timeout = timeout

    def reload(self, config: ModelServerConfig) -> None:
        try:
            self.client.reload_config(text_format.MessageToString(config))
        except ServingError as e:
            raise RolloutError(f"the server refused the config: {e}") from e

    def wait_available(self, name: str, version: int) -> None:
        deadline = time.monotonic() + self.timeout
        state = "not found"
        while time.monotonic() < deadline:
            try:
                (status,) = self.client.status(name, version=version)
                state = status.state
                if state == "AVAILABLE":
                    return
                if state == "END":
                    raise RolloutError(
                        f"{name} version {version} did not load: {status.error_code} {status.error_message}".rstrip()
                    )
            except ServingError as e:
                if e.code != "NOT_FOUND":
                    raise RolloutError(f"cannot read the status of {name} version {version}: {e}") from e
            time.sleep(1.0)
        raise RolloutError(f"{name} version {version} is not AVAILABLE after {self.timeout:.0f} s (state: {state})")

    def close(self) -> None:
        self.client.close()


def apply(path: Path, name: str, final: ModelServerConfig, version: int, label: str, server: Server | None) -> None:
    """Stage `version` next to the labelled ones, wait for it, then move the label; restore on failure."""
    original = read_config(path)
    header = leading_comments(path)
    if server is None:
        write_config(path, final, header)
        return
    staged = with_versions(original, name, [version])
    try:
        write_config(path, staged, header)
        server.reload(staged)
        server.wait_available(name, version)
        write_config(path, final, header)
        server.reload(final)
    except RolloutError:
        write_config(path, original, header)
        try:
            server.reload(original)
        except RolloutError:
            pass
        raise
    (status,) = server.client.status(name, label=label)
    if status.version != version:
        raise RolloutError(f"{name}/{label} answers version {status.version}, not {version}")


def render(directory: Path) -> str:
    """The ConfigMaps of a kustomization (what `kubectl apply -k` would apply)."""
    command = ["kubectl", "kustomize", str(directory)]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        raise RolloutError(f"kustomize failed: {run.stderr.strip()}")
    docs = run.stdout.split("\n---\n")
    return "\n---\n".join(d for d in docs if "\nkind: ConfigMap\n" in f"\n{d}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m clients.rollout", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for command, help_text in (
        ("promote", "point a label at a version once it is AVAILABLE"),
        ("rollback", "point a label back at the version it had before"),
        ("show", "print each model's loaded versions and labels"),
    ):
        s = sub.add_parser(command, help=help_text)
        if command != "show":
            s.add_argument("model")
            if command == "promote":
                s.add_argument("version", type=int)
            s.add_argument("--label", default=DEFAULT_LABEL, help=f"label to move (default {DEFAULT_LABEL})")
            s.add_argument("--grpc", help="running server HOST:PORT (plain server, compose's published port)")
            s.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for AVAILABLE (default 600)")
            s.add_argument("--kustomize", type=Path, help="print the rendered ConfigMap of this kustomization after")
        s.add_argument("--config", type=Path, required=True, help="the text ModelServerConfig the server reads")
    args = p.parse_args(argv)
    server = None
    try:
        config = read_config(args.config)
        if args.command == "show":
            print(describe(config))
            return 0
        if args.command == "promote":
            version = args.version
            final = promoted(config, args.model, version, args.label)
        else:
            final, version = rolled_back(config, args.model, args.label)
        server = Server(args.grpc, args.timeout) if args.grpc else None
        apply(args.config, args.model, final, version, args.label, server)
        print(describe(read_config(args.config)))
        if args.kustomize:
            print(render(args.kustomize))
    except RolloutError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
