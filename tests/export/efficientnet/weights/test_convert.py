"""EfficientNet weight files: the published normalisation pitfall, Keras 3 files, files of another variant."""

import keras
import numpy as np
import pytest

from export.efficientnet.networks.efficientnet import build_efficientnet, input_normalization
from export.efficientnet.weights.convert import load_weights
from export.efficientnet.weights.presets import variant_scaling
from export.errors import ExportError
from export.pipeline.tolerance import assert_same_computation
from export.signatures.image_options import IMAGENET_MEAN, IMAGENET_STD


def normalized_pixels(model: keras.Model, pixels: np.ndarray) -> np.ndarray:
    probe = keras.Model(model.input, input_normalization(model).output)
    return np.asarray(probe(pixels))


def test_published_imagenet_file_normalises_like_the_paper(tmp_path):
    """The pitfall: the published .h5 holds std in the variance slot. Built with weights=None and
    given the file by load_weights, keras.applications normalises by sqrt(std); ours by std."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

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
    assert_same_computation(np.asarray(fresh(pixels, training=False)), expected)


def test_weights_of_another_variant_are_a_clear_error(tmp_path):
    path = tmp_path / "b1.weights.h5"
    build_efficientnet(variant_scaling("b1")).save_weights(str(path))
    with pytest.raises(ExportError, match="does not fit EfficientNet-b0"):
        load_weights(build_efficientnet(variant_scaling("b0")), path, variant_scaling("b0"))
