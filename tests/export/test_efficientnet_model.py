"""EfficientNet network: parameter counts, compound scaling, weight files and the normalisation pitfall."""

import math

import keras
import numpy as np
import pytest

from export.efficientnet.model import IMAGENET_MEAN, IMAGENET_STD, build_efficientnet, input_normalization
from export.efficientnet.scaling import custom_scaling, round_filters, variant_scaling
from export.efficientnet.weights import load_weights
from export.errors import ExportError

# keras.applications.EfficientNetB0..B7(weights=None).count_params(), from model-reference.md.
KERAS_APPLICATIONS_PARAMS = {
    "b0": 5_330_571, "b1": 7_856_239, "b2": 9_177_569, "b3": 12_320_535,
    "b4": 19_466_823, "b5": 30_562_527, "b6": 43_265_143, "b7": 66_658_687,
}


def blocks_of(model: keras.Model) -> set[str]:
    return {layer.name.split("_")[0] for layer in model.layers if layer.name.startswith("block")}


def normalized_pixels(model: keras.Model, pixels: np.ndarray) -> np.ndarray:
    probe = keras.Model(model.input, input_normalization(model).output)
    return np.asarray(probe(pixels))


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


def test_custom_bases_change_only_their_dimension():
    scaling = custom_scaling(1, alpha=1.0, beta=1.0, gamma=1.5)
    assert (scaling.width, scaling.depth, scaling.resolution) == (1.0, 1.0, 336)


def test_custom_scaling_rejects_nonsense():
    with pytest.raises(ExportError, match="--phi"):
        custom_scaling(-1)
    with pytest.raises(ExportError, match="--beta"):
        custom_scaling(1, beta=0.5)


def test_published_imagenet_file_normalises_like_the_paper(tmp_path):
    """The pitfall: the published .h5 holds std in the variance slot. Built with weights=None and
    given the file by load_weights, keras.applications normalises by sqrt(std); ours by std."""
    from keras.src.legacy.saving import legacy_h5_format
    import h5py

    source = keras.applications.EfficientNetB0(weights=None)
    norm = input_normalization(source)
    norm.adapt_mean.assign(IMAGENET_MEAN)
    norm.adapt_variance.assign(IMAGENET_STD)  # as stored in efficientnetb0.h5
    path = tmp_path / "efficientnetb0.h5"
    with h5py.File(path, "w") as f:  # the legacy weights-only HDF5 layout of the published files
        legacy_h5_format.save_weights_to_hdf5_group(f, source)

    pixels = np.random.default_rng(0).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    correct = (pixels / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)

    naive = keras.applications.EfficientNetB0(weights=None)
    naive.load_weights(str(path))
    input_normalization(naive).finalize_state()
    wrong = normalized_pixels(naive, pixels)
    assert np.abs(wrong - correct).max() > 0.5  # the pitfall is real

    ours = build_efficientnet(variant_scaling("b0"))
    described = load_weights(ours, path, variant_scaling("b0"))
    assert "normalisation corrected" in described
    np.testing.assert_allclose(normalized_pixels(ours, pixels), correct, atol=1e-5)
    conv = ours.get_layer("block3a_expand_conv").kernel.numpy()
    np.testing.assert_array_equal(conv, source.get_layer("block3a_expand_conv").kernel.numpy())


def test_keras3_weights_file_round_trips(efficientnet_keras, efficientnet_weights):
    fresh = build_efficientnet(variant_scaling("b0"))
    assert load_weights(fresh, efficientnet_weights, variant_scaling("b0")) == str(efficientnet_weights)
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    expected = np.asarray(efficientnet_keras(pixels, training=False))
    assert np.abs(np.asarray(build_efficientnet(variant_scaling("b0"))(pixels)) - expected).max() > 0.01
    np.testing.assert_allclose(np.asarray(fresh(pixels, training=False)), expected, atol=1e-6)


def test_weights_of_another_variant_are_a_clear_error(tmp_path):
    path = tmp_path / "b1.weights.h5"
    build_efficientnet(variant_scaling("b1")).save_weights(str(path))
    with pytest.raises(ExportError, match="does not fit EfficientNet-b0"):
        load_weights(build_efficientnet(variant_scaling("b0")), path, variant_scaling("b0"))
