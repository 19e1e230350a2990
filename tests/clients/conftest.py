"""Real servers for the client tests: `python -m serving` on 127.0.0.1 with tiny models and with the
three exported models, and clients of both transports pointed at them."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.serving.server_process import (
    ServerProcess,
    build_half_plus_two,
    build_multi_io,
    build_strings,
    model_config_text,
)

LABEL_FLAG = "--allow_version_labels_for_unavailable_models"


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory) -> Path:
    """hpt (versions 1 and 2: y = x/2 + 2 and y = x/2 + 3, label stable -> 1), strings, multi_io."""
    root = tmp_path_factory.mktemp("tiny-repo")
    build_half_plus_two(root / "hpt", version=1)
    build_half_plus_two(root / "hpt", version=2, offset=3.0)
    build_strings(root / "strings")
    build_multi_io(root / "multi_io")
    config = root / "models.config"
    config.write_text(model_config_text([
        {"name": "hpt", "base_path": str(root / "hpt"), "policy": "all {}", "labels": {"stable": 1}},
        {"name": "strings", "base_path": str(root / "strings")},
        {"name": "multi_io", "base_path": str(root / "multi_io")},
    ]))
    return root


@pytest.fixture(scope="session")
def tiny_server(tiny_repo):
    with ServerProcess(model_config_file=tiny_repo / "models.config", args=[LABEL_FLAG]) as server:
        yield server


def make_client(kind: str, server: ServerProcess, **options):
    if kind == "rest":
        from clients.rest import RestClient

        return RestClient(server.rest_url, **options)
    from clients.grpc_client import GrpcClient

    return GrpcClient(server.grpc_address, **options)


@pytest.fixture(params=["rest", "grpc"])
def client(request, tiny_server):
    with make_client(request.param, tiny_server) as c:
        yield c


def _fixture_or_skip(request, name: str) -> Path:
    try:
        return Path(request.getfixturevalue(name))
    except pytest.FixtureLookupError:
        pytest.skip(f"fixture {name} is not available yet (its model owner has not landed it)")


def link_tree(source: Path, target: Path) -> None:
    """Copy a version directory by hard links (same file system) or plain copies."""
    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link)


@pytest.fixture(scope="session")
def models_repo(request, tmp_path_factory) -> Path:
    """One model repository with the three session exports as efficientnet/1, detr/1, stylegan/1."""
    root = tmp_path_factory.mktemp("models-repo")
    for name in ("efficientnet", "detr", "stylegan"):
        version_dir = _fixture_or_skip(request, f"{name}_export")
        link_tree(version_dir, root / name / "1")
    return root


@pytest.fixture(scope="session")
def models_config(models_repo) -> Path:
    """serving/models.config with /models/ pointed at the test repository."""
    text = (Path(__file__).resolve().parents[2] / "serving" / "models.config").read_text()
    config = models_repo / "models.config"
    config.write_text(text.replace('"/models/', f'"{models_repo}/'))
    return config


@pytest.fixture(scope="session")
def models_server(models_config):
    with ServerProcess(model_config_file=models_config, args=[LABEL_FLAG], startup_timeout=600) as server:
        yield server


@pytest.fixture(params=["rest", "grpc"])
def models_client(request, models_server):
    with make_client(request.param, models_server, timeout=300) as c:
        yield c
