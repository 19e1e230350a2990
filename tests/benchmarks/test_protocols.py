"""`python -m benchmarks protocols` end to end: a real server, a client process without TensorFlow, every
path measured beside the in-process floor and the ratios computed. No timing is asserted."""

import pytest

from tests.benchmarks.command import run_benchmark

pytestmark = pytest.mark.slow


def test_both_protocols_are_measured_side_by_side(efficientnet_export, tmp_path):
    out = tmp_path / "protocols.json"
    result, printed = run_benchmark(
        "protocols", "--rounds", "3", "--models-dir", str(efficientnet_export.parents[1]), out=out
    )
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
    assert "| v2 REST binary / gRPC |" in printed
