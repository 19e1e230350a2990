"""`python -m benchmarks` end to end in its quick mode, on the shared EfficientNet-B0 export.

Real servers on 127.0.0.1 (`python -m serving` without and with batching, the naive Flask server),
real clients, the real result file and charts. No timing is asserted: only that every path was
measured, what the payloads are, and that the FLOPs count matches the paper.
"""

import json
import os
import subprocess
import sys

import pytest

from benchmarks.workloads import photo_jpeg
from serving.testing.server_process import REPO_ROOT

pytestmark = pytest.mark.slow
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=REPO_ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def quick_result(efficientnet_export, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "result.json"
    done = run(
        "run",
        "--quick",
        "--models",
        "efficientnet",
        "--models-dir",
        str(efficientnet_export.parents[1]),
        "--out",
        str(out),
    )
    return json.loads(out.read_text()), done.stdout, out


def test_every_path_is_measured_at_every_concurrency_without_errors(quick_result):
    result, _, _ = quick_result
    cells = result["cells"]
    assert result["concurrency"] == [1, 2]
    measured = {(c["path"], c["batching"], c["concurrency"]) for c in cells}
    for path in ("inprocess", "inprocess_tensor", "naive"):
        assert {(path, None, 1), (path, None, 2)} <= measured
    for path in ("grpc", "rest_b64", "rest_json", "v2_rest", "v2_grpc"):
        assert {(path, False, 1), (path, False, 2)} <= measured
    for path in ("grpc", "rest_b64"):
        assert {(path, True, 1), (path, True, 2)} <= measured
    assert ("inprocess_batch", None, 1) in measured
    assert all(c["errors"] == 0 and c["requests"] > 0 and c["p50_ms"] > 0 for c in cells), [
        c["first_error"] for c in cells if c["errors"]
    ]
    served = [c for c in cells if c["path"] in ("grpc", "rest_b64", "rest_json", "v2_rest", "v2_grpc", "naive")]
    assert all(c["p50_ratio"] > 0 and c["throughput_ratio"] > 0 for c in served)
    # with batching on, the server's own count of model runs for each cell's requests (at most one each)
    assert all(1 <= c["model_runs"] <= c["requests"] for c in cells if c["batching"])
    assert all(c["model_runs"] is None for c in cells if not c["batching"])


def test_payloads_show_what_each_path_sends(quick_result):
    payloads = quick_result[0]["payloads"]["efficientnet"]
    jpeg_bytes = len(photo_jpeg())
    # gRPC carries the JPEG as is; REST b64 adds a third; JSON floats are ~7 characters per value.
    assert jpeg_bytes < payloads["grpc"]["request"] < jpeg_bytes + 200
    assert payloads["rest_b64"]["request"] == pytest.approx(jpeg_bytes * 4 / 3, rel=0.02)
    # The Open Inference Protocol carries it as is too: a JSON header, then 4 bytes of length and the JPEG.
    assert jpeg_bytes < payloads["v2_rest"]["request"] < jpeg_bytes + 300
    assert jpeg_bytes < payloads["v2_grpc"]["request"] < jpeg_bytes + 200
    assert payloads["rest_json"]["request"] > 224 * 224 * 3 * 2
    assert payloads["naive"]["request"] > 224 * 224 * 3 * 2
    assert payloads["rest_b64"]["response"] < 2000  # top-5 names and scores


def test_flops_match_the_efficientnet_paper(quick_result):
    flops = quick_result[0]["flops"]["efficientnet"]
    assert flops["gmacs"] == pytest.approx(0.39, rel=0.03)  # paper: 0.39B FLOPs, counted as multiply-adds
    assert set(flops["by_op_type_gflops"]) >= {"Conv2D", "DepthwiseConv2dNative", "MatMul"}
    assert not flops["contractions_without_cost"]
    assert flops["gflops"] >= 2 * flops["gmacs"]
    roofline = quick_result[0]["roofline"]["efficientnet"]
    assert roofline["inprocess"]["images_per_s"] > 0 and roofline["served"]["images_per_s"] > 0
    limits = quick_result[0]["limits"]
    assert limits["achievable_fp32_gflops"] == max(limits["matmul_fp32_gflops"], limits["conv_fp32_gflops"]) > 0


def test_markdown_tables_are_printed(quick_result):
    _, stdout, _ = quick_result
    assert "### EfficientNet-B0 (224x224)" in stdout
    assert "| REST b64, batching on |" in stdout
    assert "## Compute limit" in stdout


def test_report_renders_the_readme_table_and_charts(quick_result, tmp_path):
    _, _, out = quick_result
    readme, chart, roofline = tmp_path / "table.md", tmp_path / "chart.png", tmp_path / "roofline.png"
    run("report", str(out), "--readme", str(readme), "--chart", str(chart), "--roofline", str(roofline))
    table = readme.read_text()
    assert table.count("\n") == 2 + 11  # header, rule, 11 path rows for one model (v2 REST binary, v2 gRPC too)
    assert "| EfficientNet-B0 | v2 REST binary, batching off |" in table and "| v2 gRPC, batching off |" in table
    assert "| EfficientNet-B0 | naive Flask + model.predict |" in table
    for png in (chart, roofline):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_bad_arguments_fail_in_one_line():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--models", "resnet"],
        cwd=REPO_ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "efficientnet,detr,stylegan" in done.stderr
