"""`python -m benchmarks protocols` end to end: a real server, a client process without TensorFlow, every
path measured beside the in-process floor and against the server's own Session-run time, the ratios computed.
No timing is asserted (only that a call takes longer than the model run inside it)."""

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
        "grpcio alone (no project code)",
    }
    assert all(v["p50_ms"] > 0 for v in result["latency"].values())
    assert result["ratios"]["v2 REST binary / gRPC"]["target"] == 1.10
    assert result["ratios"]["gRPC / in-process"]["target"] == 1.05
    assert result["ratios"]["REST b64 / in-process"]["target"] == 1.10
    # The server's own account of each call: the Session run it caused is inside the call, never longer.
    for path, account in result["over_session_run"].items():
        assert 0 < account["session_run_p50_ms"] < result["latency"][path]["p50_ms"], (path, account)
        assert account["ratio_p50"] > 1.0, (path, account)
        assert account["server_outside_run_p50_ms"] >= 0 and account["client_and_transport_p50_ms"] > 0, path
    floor = result["floor_session_run"]  # the in-process call against its own Session run, likewise
    assert 0 < floor["session_run_p50_ms"] < result["latency"]["in-process (Session, as served)"]["p50_ms"]
    assert floor["ratio_p50"] > 1.0
    assert "| gRPC |" in printed and "≤ 1.05 |" in printed
    assert result["v2_and_grpc_answer_the_same_scores"]
    body = result["float_body"]
    assert body["body bytes now"] < body["body bytes before"]  # float32 written shortest, not as float64
    assert "| v2 REST binary / gRPC |" in printed
