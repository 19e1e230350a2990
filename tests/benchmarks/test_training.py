"""`python -m benchmarks training --quick` end to end: every training run goes through, its figures reach the
JSON and the table, and the convergence criteria are reported. A quick run trains a step or two, so whether
the criteria are met is not asserted (that is what the full-length run measures)."""

import math

import pytest

from tests.benchmarks.command import run_benchmark

pytestmark = pytest.mark.slow


def test_every_training_run_reports_its_figures(tmp_path):
    out = tmp_path / "training.json"
    result, printed = run_benchmark("training", "--quick", out=out)
    assert result["quick"] is True and set(result["runs"]) == {"detr", "detr-masks", "stylegan"}
    detr, masks, stylegan = (result["runs"][name] for name in ("detr", "detr-masks", "stylegan"))
    assert len(detr["loss_history"]) == result["schedule"]["epochs"] == len(masks["mask_loss_history"])
    assert stylegan["steps"] == result["schedule"]["stylegan_steps"]
    for run in (detr, masks, stylegan):
        figures = [value for value in run.values() if isinstance(value, float)]
        assert figures and all(math.isfinite(value) for value in figures), run
        assert run["criteria"] and all(isinstance(met, bool) for met in run["criteria"].values())
    for iou in ("matched_box_iou_untrained", "matched_box_iou_trained", "matched_box_iou_constant_guess"):
        assert 0.0 <= detr[iou] <= 1.0
    for iou in ("mask_iou_before", "mask_iou_after", "mask_iou_whole_image"):
        assert 0.0 <= masks[iou] <= 1.0
    table = printed
    assert all(f"| {name} (" in table for name in result["runs"]), table
