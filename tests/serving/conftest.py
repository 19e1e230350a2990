"""Session fixtures: tiny SavedModels and one shared server that serves them all."""

from __future__ import annotations

import pytest

from serving.testing.models import (
    build_any_shape,
    build_float16,
    build_half_plus_two,
    build_multi_io,
    build_slow,
    build_strings,
)
from serving.testing.server_process import ServerProcess, model_config_text


@pytest.fixture(scope="session")
def model_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving_models")
    build_half_plus_two(root / "half_plus_two", version=1, warmup=True)
    build_half_plus_two(root / "half_plus_two", version=2, offset=3.0)
    build_strings(root / "strings")
    build_multi_io(root / "multi_io")
    build_slow(root / "slow")
    build_float16(root / "float16")
    build_any_shape(root / "any_shape")
    return root


@pytest.fixture(scope="session")
def shared_config(model_root, tmp_path_factory):
    path = tmp_path_factory.mktemp("serving_config") / "models.config"
    path.write_text(
        model_config_text(
            [
                {"name": "half_plus_two", "base_path": model_root / "half_plus_two", "policy": "all {}"},
                {"name": "hp2_latest", "base_path": model_root / "half_plus_two"},
                {
                    "name": "hp2_specific",
                    "base_path": model_root / "half_plus_two",
                    "policy": "specific { versions: 1 }",
                },
                {"name": "strings", "base_path": model_root / "strings"},
                {"name": "multi_io", "base_path": model_root / "multi_io"},
                {"name": "slow", "base_path": model_root / "slow"},
                {"name": "float16", "base_path": model_root / "float16"},
                {"name": "any_shape", "base_path": model_root / "any_shape"},
            ]
        )
    )
    return path


@pytest.fixture(scope="session")
def server(shared_config):
    """One server for the read-only API tests (REST + gRPC), with a short REST timeout and a small body limit."""
    with ServerProcess(
        model_config_file=shared_config,
        args=["--rest_api_timeout_in_ms=3000", "--max_request_body_bytes=5000000", "--file_system_poll_wait_seconds=0"],
    ) as process:
        yield process
