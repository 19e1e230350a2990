"""The equations that define StyleGAN, checked against hand computations in NumPy."""

import numpy as np
import pytest
import tensorflow as tf

from export.stylegan.networks import layers
from export.stylegan.networks.config import StyleGANConfig
from export.stylegan.networks.discriminator import Discriminator
from export.stylegan.networks.generator import Generator
from tests.export.stylegan import numpy_reference as ref
from tests.export.stylegan.helpers import official_arrays, randomize, tiny_config

RNG = np.random.default_rng(7)


def normal(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("gain,lrmul", [(np.sqrt(2), 1.0), (1.0, 1.0), (np.sqrt(2), 0.01)])
def test_equalized_dense_scales_weights_at_run_time(gain, lrmul):
    layer = layers.EqualizedDense(5, gain=gain, lrmul=lrmul)
    x = normal(3, 7)
    layer.build(x.shape)
    w, b = normal(7, 5), normal(5)
    layer.weight.assign(w)
    layer.bias.assign(b)
    expected = x @ (w * gain / np.sqrt(7) * lrmul) + b * lrmul
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_equalized_weights_are_initialised_with_std_one_over_lrmul():
    layer = layers.EqualizedDense(512, lrmul=0.01)
    layer.build((None, 512))
    assert abs(np.std(layer.weight.numpy()) - 100.0) < 1.0
    assert not np.any(layer.bias.numpy())


def test_equalized_conv_matches_numpy_convolution():
    layer = layers.EqualizedConv2D(4, 3)
    x = normal(2, 6, 6, 3)
    layer.build(x.shape)
    w = normal(3, 3, 3, 4)
    layer.weight.assign(w)
    expected = ref.conv2d(x.transpose(0, 3, 1, 2), w * np.sqrt(2) / np.sqrt(27)).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fused", [False, True])
def test_upsampling_conv(fused):
    """Unfused: nearest upscale then conv. Fused (official, from 128²): a stride-2 transposed conv with the
    summed 4×4 kernel. As in the official code the two are different functions of the same weights."""
    layer = layers.EqualizedConv2D(4, 3, resample="up", fused=fused)
    x = normal(2, 5, 5, 3)
    layer.build(x.shape)
    w = normal(3, 3, 3, 4)
    layer.weight.assign(w)
    xc = x.transpose(0, 3, 1, 2)
    op = ref.upscale_conv2d_fused if fused else (lambda a, b: ref.conv2d(ref.upscale(a), b))
    expected = op(xc, ref.wscale(w)).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fused", [False, True])
def test_downsampling_conv_fused_or_not_is_conv_then_average(fused):
    layer = layers.EqualizedConv2D(4, 3, resample="down", fused=fused)
    x = normal(2, 8, 8, 3)
    layer.build(x.shape)
    w = normal(3, 3, 3, 4)
    layer.weight.assign(w)
    expected = ref.downscale(ref.conv2d(x.transpose(0, 3, 1, 2), ref.wscale(w))).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_blur_is_normalised_121_filter_with_zero_padding():
    x = normal(1, 5, 5, 2)
    expected = ref.blur(x.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(layers.Blur2D()(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    # Interior of a constant image is unchanged (the filter sums to one).
    np.testing.assert_allclose(layers.Blur2D()(np.ones((1, 5, 5, 1), np.float32)).numpy()[0, 1:4, 1:4, 0], 1.0)


def test_pixel_norm_and_instance_norm():
    z = normal(4, 9)
    np.testing.assert_allclose(layers.PixelNorm()(z).numpy(), ref.pixel_norm(z), rtol=1e-5)
    x = normal(2, 4, 4, 3)
    expected = ref.instance_norm(x.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(layers.InstanceNorm()(x).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_adain_epilogue_order_noise_bias_lrelu_instancenorm_stylemod():
    epilogue = layers.LayerEpilogue(3)
    x, noise, w = normal(2, 4, 4, 3), normal(1, 4, 4, 1), normal(2, 6)
    epilogue.build((x.shape, noise.shape, w.shape))
    strength, bias, sw, sb = normal(3), normal(3), normal(6, 6), normal(6)
    epilogue.noise.weight.assign(strength)
    epilogue.bias.assign(bias)
    epilogue.style_mod.dense.weight.assign(sw)
    epilogue.style_mod.dense.bias.assign(sb)
    # By hand: x + n·s → +b → lrelu → (x − μ)/σ → x·(ys + 1) + yb with (ys, yb) = w·W/√6 + b.
    h = x + noise * strength
    h = np.maximum(h + bias, 0.2 * (h + bias))
    h = h - h.mean(axis=(1, 2), keepdims=True)
    h = h / np.sqrt((h**2).mean(axis=(1, 2), keepdims=True) + 1e-8)
    style = w @ (sw / np.sqrt(6)) + sb
    expected = h * (style[:, None, None, :3] + 1) + style[:, None, None, 3:]
    np.testing.assert_allclose(epilogue((x, noise, w)).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_minibatch_stddev_matches_numpy():
    x = normal(8, 4, 4, 3)
    expected = ref.minibatch_stddev(x.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(layers.MinibatchStddev()(x).numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("resolution", [8, 16])
def test_generator_matches_numpy_reference(resolution):
    generator = Generator(tiny_config(resolution))
    randomize(generator)
    v = official_arrays(generator)
    z = normal(3, 16)
    psi, cutoff = 0.6, 3
    dlatents = np.repeat(ref.mapping(z, v)[:, None], generator.num_layers, axis=1)
    dlatents = ref.truncate(dlatents, v["dlatent_avg"], psi, cutoff)
    expected = ref.synthesis(dlatents, v, resolution).transpose(0, 2, 3, 1)
    got = generator(z, truncation_psi=psi, truncation_cutoff=cutoff).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())


@pytest.mark.slow
def test_fused_upsampling_from_128_matches_numpy_reference():
    config = StyleGANConfig(resolution=128, fmap_base=256, fmap_max=2, latent_size=8, dlatent_size=8, mapping_fmaps=8)
    generator = Generator(config)
    assert generator.synthesis.convs[-2].fused and not generator.synthesis.convs[-4].fused
    randomize(generator)
    v = official_arrays(generator)
    z = normal(1, 8)
    dlatents = np.repeat(ref.mapping(z, v)[:, None], generator.num_layers, axis=1)
    expected = ref.synthesis(dlatents, v, 128).transpose(0, 2, 3, 1)
    got = generator(z, truncation_psi=1.0).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())


def test_discriminator_matches_numpy_reference():
    discriminator = Discriminator(tiny_config(16))
    randomize(discriminator)
    images = normal(4, 16, 16, 3)
    expected = ref.discriminator(images.transpose(0, 3, 1, 2), official_arrays(discriminator), 16)
    np.testing.assert_allclose(discriminator(images).numpy(), expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())


def test_truncation_applies_only_to_layers_below_cutoff():
    generator = Generator(tiny_config(16))
    randomize(generator)
    avg = generator.dlatent_avg.numpy()
    dlatents = normal(2, generator.num_layers, 16)
    got = generator.truncate(tf.constant(dlatents), 0.3, 4).numpy()
    np.testing.assert_allclose(got[:, :4], avg + 0.3 * (dlatents[:, :4] - avg), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[:, 4:], dlatents[:, 4:])


def test_psi_zero_gives_w_avg_for_every_z():
    generator = Generator(tiny_config(8))
    randomize(generator)
    avg = generator.dlatent_avg.numpy()
    dlatents = generator.broadcast(generator.mapping(normal(5, 16)))
    got = generator.truncate(dlatents, 0.0, generator.num_layers).numpy()
    np.testing.assert_allclose(got, np.broadcast_to(avg, got.shape), atol=1e-6)
    images = generator(normal(5, 16), truncation_psi=0.0, truncation_cutoff=generator.num_layers).numpy()
    np.testing.assert_allclose(images, np.broadcast_to(images[:1], images.shape), atol=1e-5)


def test_mixing_switches_exactly_at_crossover():
    generator = Generator(tiny_config(16))
    d1, d2 = normal(2, generator.num_layers, 16), normal(2, generator.num_layers, 16)
    for crossover in range(generator.num_layers + 1):
        got = generator.mix(tf.constant(d1), tf.constant(d2), crossover).numpy()
        np.testing.assert_array_equal(got[:, :crossover], d1[:, :crossover])
        np.testing.assert_array_equal(got[:, crossover:], d2[:, crossover:])


def test_noise_strength_zero_gives_noise_free_output():
    generator = Generator(tiny_config(16))
    randomize(generator)
    z = normal(2, 16)
    noisy = [generator(z, randomize_noise=True).numpy() for _ in range(2)]
    assert np.abs(noisy[0] - noisy[1]).max() > 1e-3  # strengths are non-zero: noise matters
    for epilogue in generator.synthesis.epilogues:
        epilogue.noise.weight.assign(np.zeros(epilogue.noise.weight.shape, np.float32))
    random_a, random_b = (generator(z, randomize_noise=True).numpy() for _ in range(2))
    fixed = generator(z, randomize_noise=False).numpy()
    np.testing.assert_array_equal(random_a, random_b)
    np.testing.assert_array_equal(random_a, fixed)


def test_fixed_noise_is_deterministic_and_read_from_noise_variables():
    generator = Generator(tiny_config(8))
    randomize(generator)
    z = normal(2, 16)
    first = generator(z).numpy()
    np.testing.assert_array_equal(first, generator(z).numpy())
    noise = generator.synthesis.noise_inputs[3]
    noise.assign(noise.numpy() + 1.0)
    assert not np.allclose(first, generator(z).numpy())
    assert all(not v.trainable for v in generator.synthesis.noise_inputs)


def test_dlatent_avg_tracking_is_an_exponential_moving_average():
    generator = Generator(tiny_config(8))
    randomize(generator)
    before = generator.dlatent_avg.numpy()
    dlatents = normal(4, generator.num_layers, 16)
    generator.update_dlatent_avg(tf.constant(dlatents))
    expected = dlatents[:, 0].mean(axis=0) + (before - dlatents[:, 0].mean(axis=0)) * 0.995
    np.testing.assert_allclose(generator.dlatent_avg.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert not generator.dlatent_avg.trainable


@pytest.mark.parametrize("resolution", [8, 16, 32, 64, 128, 256, 512, 1024])
def test_channel_schedule_and_layer_count(resolution):
    config = StyleGANConfig(resolution=resolution)
    assert config.num_layers == 2 * int(np.log2(resolution)) - 2
    expected = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
    for r in range(2, int(np.log2(resolution)) + 1):
        assert config.nf(r - 1) == expected[2**r]


@pytest.mark.parametrize("resolution", [4, 12, 2048])
def test_unsupported_resolution_is_a_clear_error(resolution):
    with pytest.raises(ValueError, match="power of two from 8 to 1024"):
        StyleGANConfig(resolution=resolution)


@pytest.mark.slow
def test_parameter_count_at_1024_is_official():
    counts = Generator(StyleGANConfig()).trainable_parameter_counts()
    assert counts == {"mapping": 2_101_248, "synthesis": 24_110_720, "to_rgb": 7_659, "total": 26_219_627}


@pytest.mark.parametrize(
    "layer",
    [
        layers.EqualizedDense(7, gain=1.0, lrmul=0.01),
        layers.EqualizedConv2D(5, 3, resample="up", fused=True, use_bias=True),
        layers.Blur2D(),
        layers.PixelNorm(),
        layers.InstanceNorm(),
        layers.StyleMod(4),
        layers.LayerEpilogue(4),
        layers.MinibatchStddev(2),
    ],
)
def test_layers_round_trip_through_get_config(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_generator_round_trips_through_get_config():
    generator = Generator(tiny_config(16), truncation_psi=0.5, truncation_cutoff=3)
    clone = Generator.from_config(generator.get_config())
    assert clone.config == generator.config
    assert (clone.truncation_psi, clone.truncation_cutoff) == (0.5, 3)


def test_discriminator_round_trips_through_get_config():
    discriminator = Discriminator(tiny_config(16), mbstd_group_size=2)
    clone = Discriminator.from_config(discriminator.get_config())
    assert type(clone) is Discriminator and clone.config == discriminator.config
    assert clone.mbstd_group_size == 2 and clone.get_config() == discriminator.get_config()
