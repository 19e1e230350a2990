"""`python -m export detr`: weights from a Keras file or a checkpoint, impossible settings, export_info."""

import json

import numpy as np
import pytest

from export.cli import main
from export.detr.coco_categories import coco_category_names
from export.detr.exporter import load_weights
from export.detr.networks.detr import build_detr
from export.errors import ExportError
from tests.export.warmup import warmup_kinds
from tests.fixtures.detr import DETR_FIXTURE_MAX_SIZE, DETR_FIXTURE_MIN_SIZE, tiny_detr_config

TINY = tiny_detr_config(num_queries=5)


def test_keras_weights_file_round_trip_and_wrong_files(tmp_path):
    trained, fresh = build_detr(TINY), build_detr(TINY)
    path = tmp_path / "detr.weights.h5"
    trained.save_weights(path)
    pixels = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype(np.float32)
    assert load_weights(fresh, str(path), None, None) == "keras weights detr.weights.h5"
    np.testing.assert_array_equal(fresh(pixels)["pred_logits"], trained(pixels)["pred_logits"])

    other = tmp_path / "other.weights.h5"
    build_detr(tiny_detr_config(num_queries=7)).save_weights(other)
    with pytest.raises(ExportError, match="cannot load Keras weights"):
        load_weights(fresh, str(other), None, None)  # 7 queries into a 5-query model
    with pytest.raises(ExportError, match="weights file not found"):
        load_weights(fresh, str(tmp_path / "missing.h5"), None, None)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--score-threshold", "1.5"], "--score-threshold must be in [0, 1]"),
        (["--max-detections", "0"], "--max-detections must be in [1, 100]"),
        (["--min-size", "900", "--max-size", "800"], "--min-size"),
    ],
)
def test_impossible_export_settings_fail_before_building(tmp_path, capsys, flags, message):
    assert main(["detr", "--models-dir", str(tmp_path), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "detr").exists() or not any((tmp_path / "detr").iterdir())


def test_unreadable_checkpoint_fails_with_its_name(tmp_path, capsys):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"this is not a torch file")
    assert main(["detr", "--checkpoint", str(bad), "--models-dir", str(tmp_path / "models")]) == 2
    assert "broken.pth" in capsys.readouterr().err
    assert main(["detr", "--checkpoint", str(tmp_path / "missing.pth"), "--models-dir", str(tmp_path)]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_export_info_describes_the_model(detr_export):
    info = json.loads((detr_export / "assets.extra" / "export_info.json").read_text())
    assert info["model"] == "detr" and info["variant"] == "resnet50"
    assert info["parameters"]["total"] == 41_631_008
    assert info["input_size"] == {"min_size": DETR_FIXTURE_MIN_SIZE, "max_size": DETR_FIXTURE_MAX_SIZE}
    shipped = json.loads((detr_export / "assets" / "coco_categories.json").read_text())
    assert shipped["names"] == coco_category_names() and len(shipped["names"]) == 91
    signatures = ("serving_default", "detect_with_threshold", "raw")
    assert warmup_kinds(detr_export, "detr") == dict.fromkeys(signatures, "predict_log")
