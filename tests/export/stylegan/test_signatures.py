"""The exported SavedModel: signatures, determinism, agreement with the in-process Keras model."""

import json

import numpy as np
import pytest
import tensorflow as tf

from export.pipeline.tolerance import assert_same_computation
from export.stylegan.signatures import to_uint8
from tests.export.warmup import warmup_kinds
from tests.fixtures.stylegan import build_fixture_generator

PSI = np.float32(0.7)


@pytest.fixture(scope="module")
def loaded(stylegan_export):
    return tf.saved_model.load(str(stylegan_export))


@pytest.fixture(scope="module")
def generator():
    return build_fixture_generator()[0]


def call(loaded, signature, **inputs):
    outputs = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}


def latents(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 512)).astype(np.float32)


def assert_within_one_level(a, b):
    """uint8 images from two float computations equal up to float round-off at a rounding boundary."""
    diff = np.abs(a.astype(int) - b.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_signatures_have_named_typed_inputs_and_outputs(loaded):
    expected = {
        "serving_default": ({"z": tf.float32, "truncation_psi": tf.float32}, {"images": tf.uint8}),
        "generate_png": ({"seeds": tf.int64, "truncation_psi": tf.float32}, {"images_bytes": tf.string}),
        "mix": (
            {"z1": tf.float32, "z2": tf.float32, "crossover": tf.int32, "truncation_psi": tf.float32},
            {"images": tf.uint8},
        ),
        "mapping": ({"z": tf.float32}, {"w": tf.float32}),
        "synthesis": ({"dlatents": tf.float32}, {"images_float": tf.float32}),
    }
    assert set(loaded.signatures) == set(expected)
    for name, (inputs, outputs) in expected.items():
        fn = loaded.signatures[name]
        assert {k: v.dtype for k, v in fn.structured_input_signature[1].items()} == inputs
        assert {k: v.dtype for k, v in fn.structured_outputs.items()} == outputs
    assert loaded.signatures["serving_default"].structured_outputs["images"].shape.as_list() == [None, 32, 32, 3]
    assert loaded.signatures["mapping"].structured_outputs["w"].shape.as_list() == [None, 512]


def test_float_outputs_match_in_process_keras(loaded, generator):
    z = latents(3)
    w = call(loaded, "mapping", z=z)["w"]
    assert_same_computation(w, generator.mapping(z).numpy())
    dlatents = generator.broadcast(generator.mapping(z)).numpy()
    images = call(loaded, "synthesis", dlatents=dlatents)["images_float"]
    assert_same_computation(images, generator.synthesis(dlatents).numpy())


def test_serving_default_is_the_truncated_generator_as_uint8(loaded, generator):
    z = latents(3, seed=1)
    images = call(loaded, "serving_default", z=z, truncation_psi=PSI)["images"]
    keras_images = generator(z, truncation_psi=0.7, truncation_cutoff=8).numpy()
    assert images.dtype == np.uint8 and images.shape == (3, 32, 32, 3)
    by_hand = np.clip(np.floor(keras_images * 127.5 + 128.0), 0, 255).astype(np.uint8)
    assert_within_one_level(images, by_hand)
    again = call(loaded, "serving_default", z=z, truncation_psi=PSI)["images"]
    np.testing.assert_array_equal(images, again)


def test_generate_png_same_seed_same_bytes(loaded):
    first = call(loaded, "generate_png", seeds=np.array([7, 3, 7], np.int64), truncation_psi=PSI)["images_bytes"]
    alone = call(loaded, "generate_png", seeds=np.array([7], np.int64), truncation_psi=PSI)["images_bytes"]
    assert first[0] == first[2] == alone[0]
    assert first[0] != first[1]
    assert first[0].startswith(b"\x89PNG\r\n\x1a\n")
    other_psi = call(loaded, "generate_png", seeds=np.array([7], np.int64), truncation_psi=np.float32(1.0))
    assert other_psi["images_bytes"][0] != alone[0]


def test_generate_png_decodes_to_the_image_of_its_seed(loaded):
    png = call(loaded, "generate_png", seeds=np.array([42], np.int64), truncation_psi=PSI)["images_bytes"][0]
    z = tf.random.stateless_normal([1, 512], seed=[42, 0], alg="philox").numpy()
    images = call(loaded, "serving_default", z=z, truncation_psi=PSI)["images"]
    decoded = tf.io.decode_png(png).numpy()
    assert decoded.shape == (32, 32, 3)
    assert_within_one_level(decoded, images[0])


def test_psi_zero_gives_the_image_of_w_avg_for_every_z(loaded, generator):
    images = call(loaded, "serving_default", z=latents(4, seed=2) * 3, truncation_psi=np.float32(0.0))["images"]
    # The fixture's cutoff (8) covers all 8 layers at 32², so every image is the image of w̄.
    assert generator.num_layers == 8
    for image in images[1:]:
        np.testing.assert_array_equal(image, images[0])
    w_avg = np.broadcast_to(generator.dlatent_avg.numpy(), (1, 8, 512)).astype(np.float32)
    of_avg = to_uint8(tf.constant(call(loaded, "synthesis", dlatents=w_avg)["images_float"])).numpy()
    assert_within_one_level(images[:1], of_avg)


def test_mix_switches_styles_at_the_crossover_layer(loaded):
    z1, z2 = latents(2, seed=3), latents(2, seed=4)
    one = np.float32(1.0)
    w1, w2 = call(loaded, "mapping", z=z1)["w"], call(loaded, "mapping", z=z2)["w"]
    for crossover in (0, 3, 8):
        mixed = call(loaded, "mix", z1=z1, z2=z2, crossover=np.int32(crossover), truncation_psi=one)["images"]
        dlatents = np.concatenate([np.repeat(w1[:, None], crossover, 1), np.repeat(w2[:, None], 8 - crossover, 1)], 1)
        by_hand = to_uint8(tf.constant(call(loaded, "synthesis", dlatents=dlatents)["images_float"])).numpy()
        assert_within_one_level(mixed, by_hand)
    only_z1 = call(loaded, "serving_default", z=z1, truncation_psi=one)["images"]
    all_z1 = call(loaded, "mix", z1=z1, z2=z2, crossover=np.int32(8), truncation_psi=one)["images"]
    assert_within_one_level(all_z1, only_z1)


def test_settings_take_one_value_per_image(loaded):
    """truncation_psi and crossover as [N] (what TF Serving's batcher merges) give each image what the
    same value as a scalar gives it alone; the settings are declared with any rank."""
    for name in ("serving_default", "generate_png", "mix"):
        specs = loaded.signatures[name].structured_input_signature[1]
        assert specs["truncation_psi"].shape.rank is None
    assert loaded.signatures["mix"].structured_input_signature[1]["crossover"].shape.rank is None
    z = latents(2, seed=5)
    psis = np.array([0.7, 0.0], np.float32)
    together = call(loaded, "serving_default", z=z, truncation_psi=psis)["images"]
    pngs = call(loaded, "generate_png", seeds=np.array([1, 2], np.int64), truncation_psi=psis)["images_bytes"]
    crossovers = np.array([2, 6], np.int32)
    mixed = call(loaded, "mix", z1=z, z2=z[::-1].copy(), crossover=crossovers, truncation_psi=psis)["images"]
    for i in range(2):  # batch 2 against batch 1: kernels may differ in the last float bit
        alone = call(loaded, "serving_default", z=z[i : i + 1], truncation_psi=psis[i])["images"]
        assert_within_one_level(together[i], alone[0])
        png = call(loaded, "generate_png", seeds=np.array([i + 1], np.int64), truncation_psi=psis[i])["images_bytes"]
        assert_within_one_level(tf.io.decode_png(pngs[i]).numpy(), tf.io.decode_png(png[0]).numpy())
        mix_alone = call(
            loaded,
            "mix",
            z1=z[i : i + 1],
            z2=z[::-1][i : i + 1].copy(),
            crossover=crossovers[i],
            truncation_psi=psis[i],
        )["images"]
        assert_within_one_level(mixed[i], mix_alone[0])
    assert np.abs(together[0].astype(int) - together[1].astype(int)).max() > 1  # ψ 0.7 and ψ 0 differ
    with pytest.raises(tf.errors.InvalidArgumentError, match="truncation_psi must be a scalar or have one value"):
        call(loaded, "serving_default", z=latents(3), truncation_psi=psis)


def test_export_info_records_the_model(stylegan_export):
    info = json.loads((stylegan_export / "assets.extra" / "export_info.json").read_text())
    assert info["model"] == "stylegan" and info["resolution"] == 32 and info["truncation_cutoff"] == 8
    assert info["default_truncation_psi"] == 0.7
    assert info["generator_trainable_parameters"]["mapping"] == 2_101_248
    signatures = ("serving_default", "generate_png", "mix", "mapping", "synthesis")
    assert warmup_kinds(stylegan_export, "stylegan") == dict.fromkeys(signatures, "predict_log")


@pytest.mark.parametrize(
    "signature, inputs, message",
    [
        ("mix", {"crossover": np.int32(-1)}, r"crossover must be in \[0, 8\], got -1"),
        ("mix", {"crossover": np.int32(9)}, r"crossover must be in \[0, 8\], got 9"),
        ("mix", {"z2": latents(3, seed=9)}, "z1 and z2 must hold the same number of latents, got 2 and 3"),
        ("mix", {"z1": latents(1), "z2": latents(3, seed=9)}, "same number of latents, got 1 and 3"),  # no broadcast
        ("mix", {"truncation_psi": np.float32(np.nan)}, "truncation_psi must be a finite number"),
        ("serving_default", {"truncation_psi": np.float32(np.inf)}, "truncation_psi must be a finite number"),
        ("generate_png", {"truncation_psi": np.float32(-np.inf)}, "truncation_psi must be a finite number"),
        ("generate_png", {"seeds": np.arange(17, dtype=np.int64)}, "at most 16 seeds a request, got 17"),
    ],
)
def test_impossible_inputs_are_invalid_argument_in_the_graph(loaded, signature, inputs, message):
    valid = {
        "mix": {"z1": latents(2), "z2": latents(2, seed=1), "crossover": np.int32(4), "truncation_psi": PSI},
        "serving_default": {"z": latents(2), "truncation_psi": PSI},
        "generate_png": {"seeds": np.array([1, 2], np.int64), "truncation_psi": PSI},
    }[signature]
    call(loaded, signature, **valid)  # the valid request passes
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call(loaded, signature, **{**valid, **inputs})


def test_the_seed_cap_and_its_limit_are_recorded(loaded, stylegan_export):
    assert json.loads((stylegan_export / "assets.extra" / "export_info.json").read_text())["max_seeds"] == 16
    images = call(loaded, "generate_png", seeds=np.arange(16, dtype=np.int64), truncation_psi=PSI)["images_bytes"]
    assert len(images) == 16
