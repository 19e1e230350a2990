"""A client install is `pip install .` and nothing else: no TensorFlow, and the client tests pass in it.

A venv with only the project's base dependencies (plus pytest to run the tests) runs the client and
protocol test suites against the servers this (full) environment already runs, and a fresh
interpreter outside the repository imports the installed `clients` without loading TensorFlow.
The venv is kept in the cache directory (tests/fixtures/venvs.py) and only the project itself is
reinstalled on a rerun, so the pip work is paid once per dependency change.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.pictures import sample_picture
from tests.fixtures.venvs import TEST_RUNNER, cached_venv

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = (
    "tensorflow",
    "tensorflow-serving-api",
    "keras",
    "scipy",
    "docker",
    "h11",
    "pysimdjson",
    "prometheus-client",
    "torch",
)


@pytest.fixture(scope="module")
def client_python() -> Iterator[Path]:
    """The client-only venv's interpreter, with the current sources installed (not editable)."""
    with cached_venv("client-venv", TEST_RUNNER, with_project=True) as python:
        yield python


def test_the_install_has_no_server_or_export_dependency(client_python):
    listed = subprocess.run(
        [str(client_python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    )
    installed = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    assert (
        "keras-to-serving" in installed
        and {"numpy", "requests", "grpcio", "protobuf", "pillow", "orjson", "pybase64"} <= installed
    )
    assert not installed & set(SERVER_ONLY)


def test_installed_clients_import_without_tensorflow(client_python, tmp_path):
    code = (
        "import clients, sys; assert not any(m.startswith('tensorflow') for m in sys.modules)\n"
        "from clients import GrpcClient, RestClient, classify_image\n"
        "import clients.cli, protocol.generated.tensorflow_serving.apis.prediction_service_pb2_grpc\n"
        "assert not any(m.split('.')[0] in ('tensorflow', 'tensorflow_serving', 'keras') for m in sys.modules)\n"
        "print(clients.__file__)"
    )
    run = subprocess.run(
        [str(client_python), "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "site-packages" in run.stdout  # the installed package, not the source tree


def test_client_suites_pass_in_the_client_venv(
    client_python, tiny_repo, tiny_server, models_repo, models_server, panoptic_repo, panoptic_server, tmp_path
):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for name in ("china.jpg", "flower.jpg"):
        (pictures / name).write_bytes(sample_picture(name))
    fixtures = tmp_path / "fixtures.json"
    fixtures.write_text(
        json.dumps(
            {
                "tiny_repo": str(tiny_repo),
                "models_repo": str(models_repo),
                "tiny_server": {"rest_url": tiny_server.rest_url, "grpc_address": tiny_server.grpc_address},
                "models_server": {"rest_url": models_server.rest_url, "grpc_address": models_server.grpc_address},
                "panoptic_repo": str(panoptic_repo),
                "panoptic_server": {"rest_url": panoptic_server.rest_url, "grpc_address": panoptic_server.grpc_address},
            }
        )
    )
    env = {
        **os.environ,
        "KTS_CLIENT_FIXTURES": str(fixtures),
        "KTS_PICTURES_DIR": str(pictures),
        "KTS_SERVER_PYTHON": sys.executable,
        "PYTHONPATH": "",
    }
    command = [
        str(client_python),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=-ra",
        "tests/clients",
        "tests/protocol",
        "--ignore=tests/clients/test_docker.py",
        "--ignore=tests/clients/test_client_install.py",
        # Killing replicas under load (three servers started and stopped, ~40 s) exercises the same client code
        # as the failover tests that stay; the main run has them.
        "-k",
        "not killed_under_load",
    ]
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=1800)
    tail = run.stdout[-6000:]
    assert run.returncode == 0, tail + run.stderr[-3000:]
    summary = tail.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, tail
    # Only what needs TensorFlow, tensorflow-serving-api, grpcio-tools, the [object-storage] extra or OpenTelemetry
    # (the [tracing] extra; the clients send a trace context only when the application traces) may skip.
    reasons = set(re.findall(r"^SKIPPED \[\d+\] [^:]+:\d+: (.*)$", run.stdout, re.MULTILINE))
    allowed = r"TensorFlow|tensorflow|grpcio-tools|\[object-storage\]|opentelemetry"
    unexpected = {r for r in reasons if not re.search(allowed, r)}
    assert not unexpected, unexpected
    print(f"client venv: {summary}; skipped because: {sorted(reasons)}")
