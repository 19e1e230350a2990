"""Real servers for the client tests: `python -m serving` on 127.0.0.1 with tiny models and with the
three exported models, and clients of both transports pointed at them.

In the client-only venv (tests/clients/test_client_install.py) there is no TensorFlow to build models
or run a server: KTS_CLIENT_FIXTURES names a JSON file with the servers the full environment already
runs (`tiny_server`, `models_server`: rest_url and grpc_address) and their model repositories.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.testing.models import build_half_plus_two, build_multi_io, build_strings
from serving.testing.server_process import ServerProcess, model_config_text
from tests.fixtures.repository import EXTERNAL, LABEL_FLAG, RunningServer


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory) -> Path:
    """hpt (versions 1 and 2: y = x/2 + 2 and y = x/2 + 3, label stable -> 1), strings, multi_io."""
    if EXTERNAL:
        return Path(EXTERNAL["tiny_repo"])
    root = tmp_path_factory.mktemp("tiny-repo")
    build_half_plus_two(root / "hpt", version=1)
    build_half_plus_two(root / "hpt", version=2, offset=3.0)
    build_strings(root / "strings")
    build_multi_io(root / "multi_io")
    config = root / "models.config"
    config.write_text(
        model_config_text(
            [
                {"name": "hpt", "base_path": str(root / "hpt"), "policy": "all {}", "labels": {"stable": 1}},
                {"name": "strings", "base_path": str(root / "strings")},
                {"name": "multi_io", "base_path": str(root / "multi_io")},
            ]
        )
    )
    return root


@pytest.fixture(scope="session")
def tiny_server(tiny_repo):
    if EXTERNAL:
        yield RunningServer(**EXTERNAL["tiny_server"])
        return
    with ServerProcess(model_config_file=tiny_repo / "models.config", args=[LABEL_FLAG]) as server:
        yield server


def make_client(kind: str, server: ServerProcess, **options):
    if kind == "rest":
        from clients.tfs_rest import RestClient

        return RestClient(server.rest_url, **options)
    from clients.tfs_grpc import GrpcClient

    return GrpcClient(server.grpc_address, **options)


@pytest.fixture(params=["rest", "grpc"])
def client(request, tiny_server):
    with make_client(request.param, tiny_server) as c:
        yield c


@pytest.fixture(params=["rest", "grpc"])
def models_client(request, models_server):
    with make_client(request.param, models_server, timeout=300) as c:
        yield c
