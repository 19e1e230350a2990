"""Every command in README.md and docs/*.md runs as written, so none can rot.

The fenced blocks tagged `bash`/`sh` (one command a line, `\\` continues) and `python` are extracted
and run in order, in a sandbox that looks like a fresh clone after the quick start: the repository's
files, `.venv/bin` first on PATH (README says which commands need the venv), and a `models/` holding
the session's three exports (hard links, so exports the commands make do not touch them). Ports
8500/8501 mean the session's server of those exports; a `python -m serving` command is started on
free ports instead, must open them, and is stopped. Commands that cannot run here are listed in
SKIP with the reason, so a command added later runs unless someone says why it cannot.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from serving.testing.server_process import free_port, wait_until_listening
from tests.fixtures.repository import link_tree

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = {"bash", "sh", "python"}
NOT_COMMANDS = {"text", "yaml", "json", "proto"}  # outputs and file contents

WEIGHTS_MISSING = "needs published weights, which cannot be downloaded here"
SKIP = [
    (r"^bash scripts/test\.sh", "this is CI itself: .ci/run runs it"),
    (
        r"^bash scripts/demo\.sh",
        "the whole demo (full-size exports of all three models, then serving: about "
        "4 minutes, figures in README); scripts/demo.sh is run by hand",
    ),
    (
        r"--weights (imagenet|coco|coco-panoptic|ffhq|celebahq|bedrooms|cars|cats)\b|python -m export weights fetch",
        WEIGHTS_MISSING + " (tests/export/weights/test_fetch.py fetches files of the official formats from a "
        "loopback mirror; tests/export/*/weights/test_convert.py convert them)",
    ),
    (
        r"--checkpoint detr-\S+\.pth|DETR_CHECKPOINT=",
        WEIGHTS_MISSING + " (tests/export/detr/weights/test_convert.py converts a state dict of the official format)",
    ),
    (
        r"--pickle karras\S+\.pkl|STYLEGAN_PICKLE=",
        WEIGHTS_MISSING + " (tests/export/stylegan/weights/test_convert.py reads a pickle of the official format)",
    ),
    (r"--profile gpu", "needs an NVIDIA GPU"),
    (
        r"^python -m serving\.logs ",
        "reads request logs a server wrote under /var/log/serving: tests/serving/logs/test_request_logs.py runs "
        "list, print and convert on logs a real server wrote, and replays a converted one as warmup",
    ),
    (
        r"\b(s3|gs)://",
        "needs a real bucket and its credentials: tests/serving/test_object_storage.py and "
        "tests/export/pipeline/test_upload.py export to and serve from moto's S3 and a GCS emulator on 127.0.0.1",
    ),
    (
        r"scripts/compile_protos\.py\s*(#.*)?$",
        "rewrites protocol/generated in the repository itself; the --check "
        "line runs the same compile into a temporary folder",
    ),
    (
        r"python -m export efficientnet --weights my\.weights\.h5 --version 7 --force",
        "a second full B0 export: tests/export/test_cli.py runs the same command line (a weights file, "
        "--version 7 refused, then --force replacing it) and checks the export computes what Keras does",
    ),
    (
        r"python -m export efficientnet --phi",
        "a larger-than-B0 export; tests/export/efficientnet/networks/test_efficientnet.py builds custom scalings",
    ),
    (
        r"docker compose|docker-compose|python -m (serving|deploy\.image)\.launch",
        "starts a container of the official image, which cannot be pulled here: tests/clients/test_docker.py runs "
        "the compose file and deploy.image.launch with the project's image instead",
    ),
    (
        r"python -m export detr --weights",
        "a full-size DETR-R50 export takes minutes on 2 cores: "
        "tests/fixtures/detr.py runs the same command line (export.cli.main)",
    ),
    (
        r"python -m export stylegan --resolution 256|--weights g\.weights\.h5",
        "tests/export/stylegan/test_exporter.py runs the same command line at a small resolution",
    ),
    (
        r"python -m export\.detr\.training --data DIR",
        "DIR is a placeholder for a COCO-style dataset: "
        "tests/export/detr/training/test_training.py trains on a synthetic one",
    ),
    (
        r"python (-m benchmarks\.reliability|benchmarks/reliability\.py)",
        "the full reliability run takes minutes on 2 cores: "
        "tests/benchmarks/test_reliability.py runs every scenario with smaller counts",
    ),
    (
        r"python -m benchmarks training",
        "the convergence runs take a minute alone and several under CI's load: "
        "tests/benchmarks/test_training.py runs the same command --quick",
    ),
    (
        r"python -m export\.stylegan\.training .*--steps 2000",
        "2000 training steps take tens of minutes: tests/export/stylegan/training/test_training.py runs a few",
    ),
    (
        r"^python -m benchmarks run\s*(#.*)?$|python -m benchmarks graph-options",
        "the full benchmark (~19 min) and the graph-options measurements (~7.5 min) export and load the three "
        "full-size models: tests/benchmarks/ runs the suite's quick mode and checks the bf16 switch",
    ),
    (
        r"segment\(client, |python -m clients --\w+ \S+ segment ",
        "the session's server serves no panoptic model: tests/clients/test_tasks.py and test_cli.py run segment "
        "against a served panoptic export",
    ),
    (
        r"python benchmarks/detr_panoptic\.py",
        "two full-size DETR-R50 panoptic exports and a server: minutes on 2 cores; "
        "tests/export/detr/test_panoptic_exporter.py serves a smaller one",
    ),
    (
        r"python -m benchmarks run --quick|python -m benchmarks (rest-overhead|protocols|allocator)",
        "tests/benchmarks/test_suite.py, test_rest_overhead.py, test_protocols.py and test_allocator.py run these "
        "on the session's B0 export",
    ),
    (
        r"import tritonclient|from kserve import",
        "tritonclient and the kserve SDK live in a venv of their own (tests/fixtures/venvs.py: tritonclient's grpc "
        "extra pins an older protobuf): tests/serving/api/v2_clients/ makes the same calls, "
        "tests/serving/api/test_v2_third_party_clients.py runs them",
    ),
    (
        r"^kubectl apply|^docker push",
        "needs a Kubernetes cluster or an image registry, neither of which exists "
        "here: tests/deploy/test_manifests.py renders and validates what it applies",
    ),
    (
        r"svc\.cluster\.local",
        "needs a cluster's DNS: tests/clients/test_replicas.py calls through a dns:/// target "
        "and balances over an ipv4: list of three replicas, the addresses such a name resolves to",
    ),
    (
        r"^kustomize edit",
        "needs the standalone kustomize binary (kubectl has only `kustomize` build): "
        "tests/deploy/test_manifests.py overrides the images the same way",
    ),
    (
        r"python -m (serving|deploy\.image)\.model_image",
        "builds a model image with Docker: tests/deploy/test_pods.py builds "
        "it and serves from it, tests/deploy/test_modelcar.py the --kserve one",
    ),
    (
        r"python -m clients\.rollout .*--config deploy/image/config/models\.config.*--grpc",
        "the compose config names container paths (/models/...): tests/clients/test_rollout.py promotes and rolls "
        "back against a real server",
    ),
]


@dataclass(frozen=True)
class Command:
    document: str
    line: int
    language: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"


def code_blocks(path: Path) -> list[tuple[int, str, str]]:
    """(first line, language, text) of each fenced block."""
    blocks, lines = [], path.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"^\s*```(\S*)\s*$", lines[i])
        if opening:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            blocks.append((i + 2, opening.group(1), "\n".join(lines[i + 1 : end])))
            i = end
        i += 1
    return blocks


def commands() -> list[Command]:
    found = []
    for path in DOCUMENTS:
        name = str(path.relative_to(ROOT))
        for first, language, text in code_blocks(path):
            if language == "python":
                found.append(Command(name, first, language, text))
            elif language in ("bash", "sh"):
                logical, start = "", first
                for offset, line in enumerate(text.splitlines()):
                    if not logical:
                        start = first + offset
                    logical += line[:-1] + " " if line.endswith("\\") else line
                    if not line.endswith("\\"):
                        if logical.strip() and not logical.strip().startswith("#"):
                            found.append(Command(name, start, language, logical.strip()))
                        logical = ""
    return found


COMMANDS = commands()


def test_every_code_block_says_what_it_is():
    for path in DOCUMENTS:
        for first, language, _ in code_blocks(path):
            assert language in RUNNABLE | NOT_COMMANDS, (
                f"{path.name}:{first}: tag the block bash, sh or python (run by this test) or text/yaml/json"
            )


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, models_repo) -> Path:
    """A clone after the quick start: the repository's files, .venv, and models/ with the session exports."""
    home = tmp_path_factory.mktemp("docs-sandbox")
    # A copy, not links: commands such as `clients.rollout promote` rewrite files of the checkout.
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache")
    for entry in ROOT.iterdir():
        if entry.name in ("models", "out", ".git", ".venv", "build", ".cache"):
            continue
        if entry.is_dir():
            shutil.copytree(entry, home / entry.name, symlinks=True, ignore=skip)
        else:
            shutil.copy2(entry, home / entry.name)
    if (ROOT / ".venv").exists():
        (home / ".venv").symlink_to(ROOT / ".venv")
    else:
        (home / ".venv").symlink_to(Path(sys.executable).parents[1])
    for name in ("efficientnet", "detr", "stylegan"):
        link_tree(models_repo / name / "1", home / "models" / name / "1")
    shutil.copy(ROOT / "docs" / "images" / "cat.jpg", home / "photo.jpg")
    shutil.copy(ROOT / "docs" / "images" / "cat.jpg", home / "street.jpg")
    return home


@pytest.fixture(scope="module")
def environment(sandbox, efficientnet_weights) -> dict[str, str]:
    (sandbox / "my.weights.h5").symlink_to(efficientnet_weights)
    bin_dir = sandbox / ".venv" / "bin"
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PWD": str(sandbox),
    }


def _with_ports(text: str, grpc_port: int, rest_port: int) -> str:
    return re.sub(r"\b8501\b", str(rest_port), re.sub(r"\b8500\b", str(grpc_port), text))


def _serve(command: str, sandbox: Path, env: dict[str, str]) -> None:
    """Start a `python -m serving` command on free ports; it must open them, then it is stopped."""
    grpc_port, rest_port = free_port(), free_port()
    text = _with_ports(command, grpc_port, rest_port) + " --grpc_host=127.0.0.1 --rest_api_host=127.0.0.1"
    log = sandbox / f"serve-{grpc_port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", text], cwd=sandbox, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        try:
            wait_until_listening(process, [grpc_port, rest_port], 600, repr(command), log.read_text, interval=0.5)
        except AssertionError as timeout:
            raise AssertionError(f"{timeout}:\n{log.read_text()[-3000:]}") from None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


@pytest.mark.parametrize("command", COMMANDS, ids=[c.id for c in COMMANDS])
def test_command_runs_as_written(command, sandbox, environment, models_server):
    for pattern, reason in SKIP:
        if re.search(pattern, command.text):
            pytest.skip(reason)
    if re.match(r"^python -m serving\s", command.text):
        _serve(command.text, sandbox, environment)
        return
    grpc_port = int(models_server.grpc_address.rsplit(":", 1)[1])
    rest_port = int(models_server.rest_url.rsplit(":", 1)[1])
    text = _with_ports(command.text, grpc_port, rest_port)
    argv = (
        ["bash", "-c", text]
        if command.language != "python"
        else [str(sandbox / ".venv" / "bin" / "python"), "-c", text]
    )
    run = subprocess.run(argv, cwd=sandbox, env=environment, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"{command.id}: {command.text}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
