"""`--weights PATH` loads a Keras weights file (e.g. from the trainer); a wrong file is a clear error."""
import numpy as np
import pytest

from export.detr.detr import DETRConfig, build_detr
from export.detr.export import load_weights
from export.errors import ExportError

TINY = DETRConfig(blocks=(1, 1, 1, 1), backbone_width=8, hidden_dim=16, num_heads=2, num_encoder_layers=1,
                  num_decoder_layers=2, dim_feedforward=32, num_queries=5)


def test_keras_weights_file_round_trip(tmp_path):
    trained = build_detr(TINY)
    path = tmp_path / "detr.weights.h5"
    trained.save_weights(path)
    fresh = build_detr(TINY)
    assert load_weights(fresh, str(path), None, None) == "keras weights detr.weights.h5"
    pixels = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_array_equal(fresh(pixels)["pred_logits"], trained(pixels)["pred_logits"])


def test_wrong_weights_file_is_an_export_error(tmp_path):
    other = build_detr(DETRConfig(**{**TINY.__dict__, "num_queries": 7}))
    path = tmp_path / "other.weights.h5"
    other.save_weights(path)
    with pytest.raises(ExportError, match="cannot load Keras weights"):
        load_weights(build_detr(TINY), str(path), None, None)
    with pytest.raises(ExportError, match="weights file not found"):
        load_weights(build_detr(TINY), str(tmp_path / "missing.h5"), None, None)
