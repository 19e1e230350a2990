"""`--weights PATH` loads a Keras weights file (e.g. from the trainer); a wrong file is a clear error."""
import numpy as np
import pytest

from export.detr.detr import DETRConfig, build_detr
from export.detr.export import load_weights
from export.errors import ExportError

TINY = DETRConfig(blocks=(1, 1, 1, 1), backbone_width=8, hidden_dim=16, num_heads=2, num_encoder_layers=1,
                  num_decoder_layers=2, dim_feedforward=32, num_queries=5)


def test_keras_weights_file_round_trip_and_wrong_files(tmp_path):
    trained, fresh = build_detr(TINY), build_detr(TINY)
    path = tmp_path / "detr.weights.h5"
    trained.save_weights(path)
    pixels = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype(np.float32)
    assert load_weights(fresh, str(path), None, None) == "keras weights detr.weights.h5"
    np.testing.assert_array_equal(fresh(pixels)["pred_logits"], trained(pixels)["pred_logits"])

    other = tmp_path / "other.weights.h5"
    build_detr(DETRConfig(**{**TINY.__dict__, "num_queries": 7})).save_weights(other)
    with pytest.raises(ExportError, match="cannot load Keras weights"):
        load_weights(fresh, str(other), None, None)  # 7 queries into a 5-query model
    with pytest.raises(ExportError, match="weights file not found"):
        load_weights(fresh, str(tmp_path / "missing.h5"), None, None)
