"""`python -m benchmarks rest-overhead` end to end: a real server with Prometheus on, py-spy on its pid."""

import pytest

from tests.benchmarks.command import run_benchmark

pytestmark = pytest.mark.slow


def test_rest_overhead_splits_a_request_into_client_transport_server_and_model(efficientnet_export, tmp_path):
    out = tmp_path / "rest_overhead.json"
    result, printed = run_benchmark(
        "rest-overhead", "--requests", "4", "--models-dir", str(efficientnet_export.parents[1]), out=out, timeout=600
    )
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
    assert "| in-process (Session, as served) |" in printed
