"""`python -m benchmarks rest-overhead` end to end: a real server with Prometheus on, py-spy on its pid."""

import json
import os
import subprocess
import sys

import pytest

from serving.testing.server_process import REPO_ROOT

pytestmark = pytest.mark.slow


def test_rest_overhead_splits_a_request_into_client_transport_server_and_model(efficientnet_export, tmp_path):
    out = tmp_path / "rest_overhead.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "rest-overhead",
            "--requests",
            "4",
            "--models-dir",
            str(efficientnet_export.parents[1]),
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result["latency"]) == {
        "in-process (Session, as served)",
        "in-process (TF2 function)",
        "REST (RestClient)",
        "REST (pre-encoded body, bare requests)",
        "gRPC (GrpcClient)",
    }
    server = result["server"]
    # The server's own histograms saw the requests: the model call is part of the handler's time.
    assert 0 < server["model call mean ms (runtime_latency)"] <= server["REST handler mean ms (request_latency)"]
    assert server["REST handler mean ms (request_latency)"] <= server["round trip mean ms (same requests, client side)"]
    profile = result["profile"]
    assert profile["requests"] == 4 and profile["samples"] > 0
    assert profile["cpu_ms_per_request"]  # the server's Python work, attributed
    assert any("recv_into" in name or "sendall" in name for name in profile["client_cprofile_ms_per_call"])
    assert "| in-process (Session, as served) |" in done.stdout
