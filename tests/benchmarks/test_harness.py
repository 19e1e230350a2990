"""The load generator, the ratio and output-change arithmetic, and the CPU facts, without servers."""

import threading
import time
from collections import Counter

import numpy as np
import pytest

from benchmarks.graph_options import output_change
from benchmarks.harness import Cell, percentile, run_cell
from benchmarks.roofline import cpu_facts
from benchmarks.suite import add_ratios


def counting_factory(log: list, seconds: float = 0.0):
    lock = threading.Lock()

    def factory():
        def call():
            with lock:
                log.append(threading.get_ident())
            time.sleep(seconds)

        return call, lambda: None

    return factory


def test_cell_sends_exactly_the_requests_spread_over_the_clients():
    log: list = []
    cell = run_cell(Cell("m", "p", 4, None), counting_factory(log), total_requests=10, max_seconds=60)
    assert cell.requests == 10 and len(log) == 10 and cell.errors == 0
    assert sorted(Counter(log).values()) == [2, 2, 3, 3]
    assert cell.p50_ms <= cell.p99_ms <= cell.max_ms and cell.throughput > 0


def test_cell_stops_starting_requests_after_its_time_limit():
    log: list = []
    cell = run_cell(Cell("m", "p", 2, None), counting_factory(log, seconds=0.2), total_requests=1000, max_seconds=0.5)
    assert 2 <= cell.requests < 20  # each client finishes the request it started, then stops


def test_failures_are_counted_not_timed():
    def factory():
        def call():
            raise RuntimeError("boom")

        return call, lambda: None

    cell = run_cell(Cell("m", "p", 2, None), factory, total_requests=4, max_seconds=10)
    assert cell.requests == 0 and cell.errors == 4 and "boom" in cell.first_error
    assert np.isnan(cell.p50_ms) and cell.throughput == 0


def test_throughput_counts_images_of_batched_requests():
    log: list = []
    cell = run_cell(Cell("m", "p", 1, None, batch=8), counting_factory(log, 0.05), total_requests=2, max_seconds=10)
    assert cell.throughput == pytest.approx(16 / cell.seconds)


def test_percentile_interpolates_like_numpy():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert np.isnan(percentile([], 99))


def test_ratios_compare_with_the_floor_of_the_same_signature_and_concurrency():
    def cell(path, concurrency, p50, rate, batching=None):
        c = Cell("efficientnet", path, concurrency, batching, requests=1, p50_ms=p50, throughput=rate)
        return c

    rows = add_ratios(
        [
            cell("inprocess", 1, 10.0, 100.0),
            cell("inprocess_tensor", 1, 8.0, 125.0),
            cell("rest_b64", 1, 12.0, 80.0, False),
            cell("rest_json", 1, 40.0, 25.0, False),
            cell("rest_b64", 8, 12.0, 80.0, False),
        ]
    )
    by_path = {(r["path"], r["concurrency"]): r for r in rows}
    assert by_path[("rest_b64", 1)]["p50_ratio"] == pytest.approx(1.2)
    assert by_path[("rest_b64", 1)]["throughput_ratio"] == pytest.approx(0.8)
    assert by_path[("rest_json", 1)]["floor"] == "inprocess_tensor"
    assert by_path[("rest_json", 1)]["p50_ratio"] == pytest.approx(5.0)
    assert "p50_ratio" not in by_path[("rest_b64", 8)]  # no in-process cell at 8: no ratio invented
    assert "latencies_ms" not in by_path[("inprocess", 1)]


def test_output_change_reports_differences_psnr_and_top1():
    reference = {
        "probabilities": np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32),
        "images": np.zeros((1, 4, 4, 3), np.uint8),
        "names": np.array([b"a"], dtype=object),
    }
    other = {
        "probabilities": np.array([[0.6, 0.3, 0.1], [0.1, 0.6, 0.3]], np.float32),
        "images": np.full((1, 4, 4, 3), 2, np.uint8),
        "names": np.array([b"a"], dtype=object),
    }
    change = output_change(reference, other)
    assert change["probabilities"]["max_abs_diff"] == pytest.approx(0.3)
    assert change["top1_agreement"] == 0.5
    assert change["images"]["psnr_db"] == pytest.approx(10 * np.log10(255**2 / 4))
    assert "names" not in change
    assert output_change(reference, reference)["images"]["psnr_db"] == float("inf")


def test_cpu_facts_describe_this_machine():
    facts = cpu_facts()
    assert facts["cores"] >= 1
    if facts["mhz"]:
        assert facts["fp32_peak_gflops"] == pytest.approx(
            facts["cores"] * facts["mhz"] / 1e3 * facts["fp32_flops_per_cycle_per_core"]
        )
