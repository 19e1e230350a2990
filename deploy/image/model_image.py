"""`python -m deploy.image.model_image`: an OCI image holding exported models, built with Docker.

    python -m deploy.image.model_image --tag registry.example.com/kts/models:2026-05-01
    python -m deploy.image.model_image --model detr --kserve --tag registry.example.com/kts/detr:3

(`python -m serving.model_image`, the older name, runs this.)

The image is `FROM scratch` with a static busybox (from `--tools-image`) and the model repository:
- default layout `/models/<name>/<version>/` (every model in `--models-dir`, or the `--model`s named):
  the Kubernetes manifests copy `/models/<name>` into the pod with an init container, or mount the
  image as an image volume;
- `--kserve` (exactly one `--model`): `/models/<version>/`, what KServe's `oci://` storageUri (the
  "modelcar") links to `/mnt/models` for its TensorFlow Serving runtime.
busybox gives the init container `cp` and the modelcar `sh`, `ln` and `sleep`; nothing else runs.
No ENTRYPOINT: Kubernetes `args`/`command` and KServe's modelcar `args` run as written.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from deploy.image import SERVER_UID
from serving.core.versions import list_versions
from serving.errors import ServingError

# The upstream static busybox; scripts/docker_setup.sh builds LOCAL_TOOLS_IMAGE from Debian's
# busybox-static where no registry can be reached, and it is preferred when present.
TOOLS_IMAGE = "busybox:1.37.0-musl"
LOCAL_TOOLS_IMAGE = "keras-to-serving/busybox:static"

# KServe's modelcar runs this image without a securityContext unless its `uidModelcar` is set, and the
# server can follow the modelcar's /proc/<pid>/root only as the same user: so the image runs as the
# servers' uid, never as root.
DOCKERFILE = f"""\
ARG TOOLS
FROM ${{TOOLS}} AS tools
FROM scratch
COPY --from=tools /bin/busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY models/ /models/
USER {SERVER_UID}
"""


class ModelImageError(Exception):
    """Bad arguments or a failed build: one line for the user."""


def model_versions(models_dir: Path, names: Sequence[str] = ()) -> dict[str, dict[int, str]]:
    """{model: {version: directory}} of the repository: integer version directories, what a server loads."""
    if not models_dir.is_dir():
        raise ModelImageError(f"{models_dir} is not a directory")
    wanted = list(names) or sorted(p.name for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    found: dict[str, dict[int, str]] = {}
    for name in wanted:
        base = models_dir / name
        try:
            versions = {v: path for v, path in list_versions(str(base), name).items() if os.path.isdir(path)}
        except ServingError:
            versions = {}
        if not versions:
            raise ModelImageError(f"{base} holds no version directory (models/<name>/<integer>/)")
        found[name] = dict(sorted(versions.items()))
    if not found:
        raise ModelImageError(f"{models_dir} holds no models")
    return found


def check_contained(models_dir: Path, version_dir: str) -> None:
    """Refuses what the build would take from outside `models_dir` or cannot copy, before anything is
    touched: a version directory, or a symbolic link anywhere in one, that resolves out of `models_dir`
    (its target would be made world-readable and put into an image that is pushed to a registry), a
    directory link into its own ancestors, and files that are not regular (FIFOs, sockets, devices).
    Links that stay inside `models_dir` are followed: the image holds what they point at."""
    root = os.path.realpath(models_dir)

    def outside(path: str, real: str) -> ModelImageError:
        return ModelImageError(
            f"{path} resolves to {real}, outside {models_dir}: a model image takes files from the models "
            "directory only (copy the file into the export, or remove the link)"
        )

    def check_tree(top: str, real_top: str) -> None:
        for directory, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                path = os.path.join(directory, name)
                mode = os.lstat(path).st_mode
                if stat.S_ISLNK(mode):
                    real = os.path.realpath(path)
                    if os.path.commonpath([root, real]) != root:
                        raise outside(path, real)
                    if not os.path.exists(real):
                        raise ModelImageError(f"{path} links to {real}, which does not exist")
                    mode = os.stat(real).st_mode
                    if stat.S_ISDIR(mode):
                        if os.path.commonpath([real, real_top]) == real:
                            raise ModelImageError(f"{path} links to {real}, a directory that contains it: a loop")
                        check_tree(real, real)
                if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    raise ModelImageError(f"{path} is not a regular file or directory: a model image cannot hold it")

    real_version = os.path.realpath(version_dir)
    if os.path.commonpath([root, real_version]) != root:
        raise outside(version_dir, real_version)
    check_tree(version_dir, real_version)


def _docker(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, env=env)
    except FileNotFoundError:
        raise ModelImageError(
            "docker is not installed (no `docker` on PATH): the model image is built with "
            "Docker; install it, or build on a machine that has it"
        ) from None


# docker's stderr lines that say nothing about the failure: the legacy builder's notice, usage text,
# the client's own log lines about the build context it could not send, and the build steps.
_DOCKER_NOISE = re.compile(
    r"DEPRECATED|BuildKit|environment-variable|^Usage:|^(Run|See) 'docker|^time=\S+ level=|^Step \d+/\d+ : |^---> "
)


def _docker_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not _DOCKER_NOISE.search(line.strip())]
    return " ".join(lines[-3:])


def default_tools_image() -> str:
    probe = _docker("image", "inspect", LOCAL_TOOLS_IMAGE)
    return LOCAL_TOOLS_IMAGE if probe.returncode == 0 else TOOLS_IMAGE


def _context_parent(models_dir: Path) -> str | None:
    """Next to the models (hard links need the same file system) when writable, else the temp dir (copies)."""
    parent = models_dir.resolve().parent
    return str(parent) if os.access(parent, os.W_OK | os.X_OK) else None


def _link_tree(source: Path, target: Path) -> None:
    """Hard links where possible (no copy of GBs of weights), world-readable like a published export.
    A symbolic link (inside the models directory: `check_contained`) becomes the file it names: os.link
    would link the symbolic link itself, which dangles in the image."""

    def link(src: str, dst: str) -> None:
        src = os.path.realpath(src)
        mode = os.stat(src).st_mode
        if mode & 0o444 != 0o444:  # (only then: the exports may belong to another user)
            os.chmod(src, mode | 0o444)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link)
    for directory, _, _ in os.walk(target):
        os.chmod(directory, 0o755)


def build(
    models_dir: Path, tag: str, names: Sequence[str] = (), kserve: bool = False, tools_image: str | None = None
) -> dict[str, list[int]]:
    """Builds `tag`; returns the models and versions it holds."""
    if kserve and len(names) != 1:
        raise ModelImageError("--kserve takes exactly one --model (KServe mounts one model per image)")
    versions = model_versions(models_dir, names)
    for numbers in versions.values():
        for source in numbers.values():
            check_contained(models_dir, source)
    tools_image = tools_image or default_tools_image()
    with tempfile.TemporaryDirectory(prefix="kts-model-image-", dir=_context_parent(models_dir)) as context:
        root = Path(context)
        try:
            (root / "Dockerfile").write_text(DOCKERFILE)
            for name, numbers in versions.items():
                target = root / "models" if kserve else root / "models" / name
                target.mkdir(parents=True, exist_ok=True)
                for number, source in numbers.items():
                    _link_tree(Path(source), target / str(number))
        except (OSError, shutil.Error) as e:
            raise ModelImageError(f"cannot put the models into the build context: {e}") from None
        listing = ";".join(f"{n}:{','.join(map(str, v))}" for n, v in versions.items())
        run = _docker(
            "build",
            "-q",
            "--network",
            "none",
            "--build-arg",
            f"TOOLS={tools_image}",
            "--label",
            f"keras-to-serving.models={listing}",
            "--label",
            f"keras-to-serving.layout={'kserve' if kserve else 'repository'}",
            "-t",
            tag,
            context,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )
    if run.returncode != 0:
        raise ModelImageError(f"docker build failed: {_docker_error(run.stderr) or run.returncode}")
    return {name: list(numbers) for name, numbers in versions.items()}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploy.image.model_image", description=__doc__.splitlines()[0])
    p.add_argument("--models-dir", type=Path, default=Path("models"), help="model repository (default models)")
    p.add_argument("--model", action="append", default=[], help="model to include (repeatable; default all)")
    p.add_argument("--tag", required=True, help="image reference to build, e.g. registry.example.com/kts/models:1")
    p.add_argument(
        "--kserve", action="store_true", help="one model, versions at /models/<version>/ (KServe oci:// storageUri)"
    )
    p.add_argument(
        "--tools-image",
        default=None,
        help=f"image with a static /bin/busybox (default {LOCAL_TOOLS_IMAGE} if built, else {TOOLS_IMAGE})",
    )
    args = p.parse_args(argv)
    try:
        versions = build(args.models_dir, args.tag, args.model, args.kserve, args.tools_image)
    except ModelImageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for name, numbers in versions.items():
        print(f"{args.tag}: {name} versions {', '.join(map(str, numbers))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
