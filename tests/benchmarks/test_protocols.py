"""`python -m benchmarks protocols` end to end: a real server, a client process without TensorFlow, every
path measured beside the in-process floor and the ratios computed. No timing is asserted."""

import json
import os
import subprocess
import sys

import pytest

from serving.testing.server_process import REPO_ROOT

pytestmark = pytest.mark.slow


def test_both_protocols_are_measured_side_by_side(efficientnet_export, tmp_path):
    out = tmp_path / "protocols.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "protocols",
            "--rounds",
            "3",
            "--models-dir",
            str(efficientnet_export.parents[1]),
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result["latency"]) == {
        "in-process (Session, as served)",
        "gRPC",
        "REST b64",
        "REST JSON floats",
        "v2 REST binary",
        "v2 gRPC",
    }
    assert all(v["p50_ms"] > 0 for v in result["latency"].values())
    assert result["ratios"]["v2 REST binary / gRPC"]["target"] == 1.10
    assert result["ratios"]["gRPC / in-process"]["target"] == 1.05
    assert result["ratios"]["REST b64 / in-process"]["target"] == 1.10
    assert result["v2_and_grpc_answer_the_same_scores"]
    body = result["float_body"]
    assert body["body bytes now"] < body["body bytes before"]  # float32 written shortest, not as float64
    assert "| v2 REST binary / gRPC |" in done.stdout
