"""EfficientNet network: parameter counts of B0-B7 and of custom compound scaling."""

import math

import keras
import pytest

from export.efficientnet.networks.efficientnet import build_efficientnet
from export.efficientnet.networks.scaling import custom_scaling, round_filters
from export.efficientnet.weights.presets import variant_scaling

# keras.applications.EfficientNetB0..B7(weights=None).count_params(), from model-reference.md.
KERAS_APPLICATIONS_PARAMS = {
    "b0": 5_330_571,
    "b1": 7_856_239,
    "b2": 9_177_569,
    "b3": 12_320_535,
    "b4": 19_466_823,
    "b5": 30_562_527,
    "b6": 43_265_143,
    "b7": 66_658_687,
}


def blocks_of(model: keras.Model) -> set[str]:
    return {layer.name.split("_")[0] for layer in model.layers if layer.name.startswith("block")}


def test_b0_parameter_count_matches_reference():
    assert build_efficientnet(variant_scaling("b0")).count_params() == KERAS_APPLICATIONS_PARAMS["b0"]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["b1", "b2", "b3", "b4", "b5", "b6", "b7"])
def test_b1_to_b7_parameter_counts_match_reference(variant):
    model = build_efficientnet(variant_scaling(variant))
    assert model.count_params() == KERAS_APPLICATIONS_PARAMS[variant]
    assert model.input_shape[1:] == (variant_scaling(variant).resolution,) * 2 + (3,)
    keras.backend.clear_session()


def test_phi_zero_is_b0():
    scaling = custom_scaling(0)
    assert (scaling.width, scaling.depth, scaling.resolution) == (1.0, 1.0, 224)
    assert build_efficientnet(scaling).count_params() == KERAS_APPLICATIONS_PARAMS["b0"]


def test_custom_phi_scales_width_depth_and_resolution_per_the_paper():
    phi = 2
    scaling = custom_scaling(phi)
    assert scaling.depth == pytest.approx(1.2**phi) and scaling.width == pytest.approx(1.1**phi)
    assert scaling.resolution == 296  # 224 * 1.15^2 = 296.24, rounded to a multiple of 8
    model = build_efficientnet(scaling)
    b0_repeats = [1, 2, 2, 3, 3, 4, 1]
    assert len(blocks_of(model)) == sum(math.ceil(1.44 * r) for r in b0_repeats)
    assert model.get_layer("top_conv").filters == round_filters(1280, 1.21) == 1552
    assert model.get_layer("stem_conv").filters == round_filters(32, 1.21) == 40
    assert model.input_shape == (None, 296, 296, 3)
