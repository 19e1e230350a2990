"""Progressive growing (optional): the official linear structures, the lod schedule and faded reals."""

import numpy as np
import pytest

from export.pipeline.tolerance import assert_same_computation
from export.stylegan.networks.config import StyleGANConfig
from export.stylegan.networks.discriminator import Discriminator
from export.stylegan.networks.generator import Generator
from export.stylegan.training.dataset import process_reals
from export.stylegan.training.training_loop import TrainConfig, Trainer
from tests.export.stylegan.helpers import TINY, randomize


def twins(cls, resolution=16):
    """A fixed and a progressive network with identical weights."""
    fixed = cls(StyleGANConfig(resolution=resolution, **TINY))
    progressive = cls(StyleGANConfig(resolution=resolution, progressive=True, **TINY))
    randomize(fixed)
    source = fixed.official_variables()
    for name, variable in progressive.official_variables().items():
        variable.assign(source[name].numpy())
    return fixed, progressive


def test_generator_at_lod_zero_is_the_fixed_network_and_fades_linearly():
    fixed, progressive = twins(Generator)
    z = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)
    assert_same_computation(progressive(z).numpy(), fixed(z).numpy())  # float round-off only
    outputs = {}
    for lod in (0.0, 0.5, 1.0):
        progressive.synthesis.lod.assign(lod)
        outputs[lod] = progressive(z).numpy()
    # At lod 1 the image is the 8² ToRGB output, nearest-upscaled: constant on 2×2 blocks (up to the
    # round-off of the official lerp a + (b − a)·1).
    np.testing.assert_allclose(outputs[1.0][:, 0::2, 0::2], outputs[1.0][:, 1::2, 1::2], atol=1e-6)
    assert_same_computation(outputs[0.5], (outputs[0.0] + outputs[1.0]) / 2)


def test_fully_grown_copy_exports_the_same_generator():
    _, progressive = twins(Generator)
    z = np.random.default_rng(4).standard_normal((2, 16)).astype(np.float32)
    grown = progressive.fully_grown()
    assert not grown.config.progressive
    assert_same_computation(grown(z).numpy(), progressive(z).numpy())


def test_discriminator_at_lod_one_sees_only_the_half_resolution_image():
    fixed, progressive = twins(Discriminator)
    images = np.random.default_rng(1).standard_normal((4, 16, 16, 3)).astype(np.float32)
    assert_same_computation(progressive(images).numpy(), fixed(images).numpy())
    progressive.lod.assign(1.0)
    blocky = process_reals(images, 1.0)
    assert_same_computation(progressive(images).numpy(), progressive(blocky).numpy())


def test_lod_schedule_is_the_official_one():
    config = TrainConfig(resolution=32, lod_initial_resolution=8, lod_training_kimg=1.0, lod_transition_kimg=1.0)
    assert config.lod(0) == 2.0 and config.lod(999) == 2.0  # train at 8²
    assert config.lod(1500) == pytest.approx(1.5)  # fading in 16²
    assert config.lod(2000) == 1.0 and config.lod(3500) == pytest.approx(0.5)
    assert config.lod(10_000) == 0.0
    assert TrainConfig(resolution=32).lod(5000) == 0.0  # no progressive growing


def test_processed_reals_fade_between_levels():
    images = np.random.default_rng(2).standard_normal((2, 8, 8, 3))
    half = images.reshape(2, 4, 2, 4, 2, 3).mean(axis=(2, 4)).repeat(2, 1).repeat(2, 2)
    np.testing.assert_array_equal(process_reals(images, 0.0), images)
    np.testing.assert_allclose(process_reals(images, 1.0), half)
    np.testing.assert_allclose(process_reals(images, 0.25), images + (half - images) * 0.25)


@pytest.mark.slow
def test_trainer_steps_at_a_fading_lod():
    config = TrainConfig(
        resolution=8,
        lod_initial_resolution=4,
        lod_training_kimg=0.016,
        lod_transition_kimg=0.016,
        fmap_base=64,
        fmap_max=8,
        latent_size=16,
        mapping_fmaps=16,
        batch_size=4,
    )
    trainer = Trainer(config)
    trainer.set_lod(config.lod(20))
    assert float(trainer.D.lod.numpy()) == pytest.approx(0.75)
    logs = trainer.step(process_reals(np.random.default_rng(3).uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32), 0.75))
    assert np.isfinite(list(logs.values())).all()
    for network in (trainer.G.synthesis, trainer.Gs.synthesis, trainer.D):
        assert float(network.lod.numpy()) == pytest.approx(0.75)

    def adam_state_is_zero():  # moments, velocities and step counts; the learning rate is not state
        return [
            not np.any(v.numpy())
            for opt in (trainer.G_opt, trainer.D_opt)
            for v in opt.variables
            if v.name != "learning_rate"
        ]

    assert not any(adam_state_is_zero())  # after the step
    trainer.set_lod(0.5)  # same level (between 0 and 1): Adam state kept
    assert not any(adam_state_is_zero())
    trainer.set_lod(0.0)  # a new level: Adam state reset, as the official loop does
    assert all(adam_state_is_zero())
    for optimizer in (trainer.G_opt, trainer.D_opt):  # ... but training goes on at the same rate
        assert float(optimizer.learning_rate.numpy()) == pytest.approx(config.learning_rate)
