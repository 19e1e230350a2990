"""The StyleGAN training loop (official training/training_loop.py).

Per iteration one D step (logistic loss + R1, γ = 10) then one G step (non-saturating logistic),
Adam(β1 = 0, β2 = 0.99, ε = 1e-8), style mixing and w̄ tracking inside G, mirror augmentation, and Gs,
an exponential moving average of G's weights with a half-life of `g_smoothing_kimg` thousand images
(non-trainable variables copied). Gs is what gets evaluated and saved. Progressive growing (optional,
`--lod-initial-resolution`): the official schedule of lod_training_kimg at a level of detail, then
lod_transition_kimg of fade-in, reals faded and upscaled to match, Adam state reset whenever a new
level starts.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from export.stylegan.networks.config import StyleGANConfig
from export.stylegan.networks.discriminator import Discriminator
from export.stylegan.networks.generator import Generator
from export.stylegan.training.dataset import load_faces, mirrored_batch, process_reals
from export.stylegan.training.losses import discriminator_loss, generator_loss, r1_penalty
from export.stylegan.training.metrics import image_features, kernel_distance


@dataclasses.dataclass
class TrainConfig:
    resolution: int = 16
    fmap_base: int = 8192
    fmap_max: int = 512
    latent_size: int = 512
    mapping_fmaps: int = 512
    batch_size: int = 16
    steps: int = 2000
    learning_rate: float = 0.001
    r1_gamma: float = 10.0
    style_mixing_prob: float = 0.9
    g_smoothing_kimg: float = 10.0
    heldout: int = 20
    eval_every: int = 100
    eval_samples: int = 100
    seed: int = 0
    lod_initial_resolution: int = 0  # 0 (or = resolution): no progressive growing
    lod_training_kimg: float = 600.0
    lod_transition_kimg: float = 600.0

    @property
    def progressive(self) -> bool:
        return 0 < self.lod_initial_resolution < self.resolution

    def network_config(self) -> StyleGANConfig:
        return StyleGANConfig(
            resolution=self.resolution,
            fmap_base=self.fmap_base,
            fmap_max=self.fmap_max,
            latent_size=self.latent_size,
            dlatent_size=self.latent_size,
            mapping_fmaps=self.mapping_fmaps,
            progressive=self.progressive,
        )

    def lod(self, images_shown: int) -> float:
        """Level of detail after `images_shown` reals (official training_schedule, fixed minibatch)."""
        if not self.progressive:
            return 0.0
        kimg = images_shown / 1000.0
        phase_dur = self.lod_training_kimg + self.lod_transition_kimg
        phase_idx = int(np.floor(kimg / phase_dur)) if phase_dur > 0 else 0
        phase_kimg = kimg - phase_idx * phase_dur
        lod = np.log2(self.resolution) - np.floor(np.log2(self.lod_initial_resolution)) - phase_idx
        if self.lod_transition_kimg > 0:
            lod -= max(phase_kimg - self.lod_training_kimg, 0.0) / self.lod_transition_kimg
        return float(max(lod, 0.0))


def small_faces_config(steps: int, eval_every: int, eval_samples: int = 100) -> TrainConfig:
    """The 16x16 StyleGAN that learns lfw_subset faces in minutes on a CPU (the training test and `python -m
    benchmarks training`): feature maps 32 at most, 64-wide latents and mapping, Gs averaged over 0.5 kimg."""
    return TrainConfig(
        resolution=16,
        fmap_base=256,
        fmap_max=32,
        latent_size=64,
        mapping_fmaps=64,
        batch_size=16,
        steps=steps,
        learning_rate=0.002,
        g_smoothing_kimg=0.5,
        eval_every=eval_every,
        eval_samples=eval_samples,
        seed=0,
    )


class Trainer:
    """Holds G, D, Gs and their optimizers; `step()` runs one D and one G update."""

    def __init__(self, config: TrainConfig):
        self.config = config
        keras.utils.set_random_seed(config.seed)
        net = config.network_config()
        self.G = Generator(net, style_mixing_prob=config.style_mixing_prob, name="G")
        self.D = Discriminator(net, name="D")
        self.Gs = Generator(net, name="Gs")
        self.Gs.set_weights(self.G.get_weights())
        self.G_opt = keras.optimizers.Adam(config.learning_rate, beta_1=0.0, beta_2=0.99, epsilon=1e-8)
        self.D_opt = keras.optimizers.Adam(config.learning_rate, beta_1=0.0, beta_2=0.99, epsilon=1e-8)
        # Without progressive growing the lower-lod ToRGB / FromRGB layers get no gradient: leave them out.
        unused_g = (
            set() if config.progressive else {id(v) for layer in self.G.synthesis.to_rgb[1:] for v in layer.weights}
        )
        unused_d = set() if config.progressive else {id(v) for layer in self.D.from_rgb[1:] for v in layer.weights}
        self.G_vars = [v for v in self.G.trainable_weights if id(v) not in unused_g]
        self.D_vars = [v for v in self.D.trainable_weights if id(v) not in unused_d]
        # Built here: a first step that creates the optimizers' variables makes tf.function trace it twice.
        self.G_opt.build(self.G_vars)
        self.D_opt.build(self.D_vars)
        self.Gs_beta = (
            0.5 ** (config.batch_size / (config.g_smoothing_kimg * 1000.0)) if config.g_smoothing_kimg > 0 else 0.0
        )

    @tf.function
    def d_step(self, reals: tf.Tensor) -> dict[str, tf.Tensor]:
        z = tf.random.normal([tf.shape(reals)[0], self.config.latent_size])
        with tf.GradientTape() as tape:
            fakes = self.G.generate_for_training(z)
            fake_scores = self.D(fakes, training=True)
            real_scores, penalty = r1_penalty(self.D, reals)
            loss = tf.reduce_mean(discriminator_loss(real_scores, fake_scores) + penalty * (self.config.r1_gamma * 0.5))
        self.D_opt.apply_gradients(zip(tape.gradient(loss, self.D_vars), self.D_vars))
        return {"d_loss": loss, "r1": tf.reduce_mean(penalty)}

    @tf.function
    def g_step(self, batch_size: int) -> dict[str, tf.Tensor]:
        z = tf.random.normal([batch_size, self.config.latent_size])
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(generator_loss(self.D(self.G.generate_for_training(z), training=True)))
        self.G_opt.apply_gradients(zip(tape.gradient(loss, self.G_vars), self.G_vars))
        return {"g_loss": loss}

    @tf.function
    def update_gs(self) -> None:
        """Gs ← lerp(G, Gs, β) for trainable weights; non-trainable weights (w̄, noise) copied."""
        for g, gs in zip(self.G.weights, self.Gs.weights):
            gs.assign(g + (gs - g) * self.Gs_beta if g.trainable else g)

    def set_lod(self, lod: float) -> None:
        """Set the level of detail of G, D and Gs; a new level (floor or ceil changes) resets Adam."""
        if not self.config.progressive:
            return
        old = float(self.D.lod.numpy())
        if np.floor(lod) != np.floor(old) or np.ceil(lod) != np.ceil(old):
            for optimizer in (self.G_opt, self.D_opt):
                for variable in optimizer.variables:
                    if variable.name != "learning_rate":  # a Keras optimizer variable, but not Adam state
                        variable.assign(tf.zeros_like(variable))
        for network in (self.G.synthesis, self.Gs.synthesis, self.D):
            network.lod.assign(lod)

    def step(self, reals: np.ndarray) -> dict[str, float]:
        logs = self.d_step(tf.constant(reals))
        self.update_gs()
        logs.update(self.g_step(len(reals)))
        return {k: float(v) for k, v in logs.items()}

    def sample(self, n: int, seed: int) -> np.ndarray:
        """Gs images (ψ = 1, random noise) for fixed latents, as the official metrics draw them."""
        z = np.random.default_rng(seed).standard_normal((n, self.config.latent_size)).astype(np.float32)
        return np.concatenate(
            [self.Gs(z[i : i + 50], truncation_psi=1.0, randomize_noise=True).numpy() for i in range(0, n, 50)]
        )


def evaluate(trainer: Trainer, heldout: np.ndarray) -> float:
    """Kernel distance between Gs samples and held-out real faces (lower is better)."""
    fakes = trainer.sample(trainer.config.eval_samples, seed=12345)
    return kernel_distance(image_features(fakes), image_features(heldout))


def train(
    config: TrainConfig, log: Callable[[str], None] = print, max_seconds: float | None = None
) -> tuple[Trainer, list[tuple[int, float, float]]]:
    """Run `config.steps` iterations (or until `max_seconds`); returns the trainer and the curve
    [(step, kernel distance, seconds)], starting with the untrained generator at step 0."""
    train_images, heldout = load_faces(config.resolution, config.heldout, config.seed)
    trainer = Trainer(config)
    trainer.set_lod(config.lod(0))
    rng = np.random.default_rng(config.seed)
    history = [(0, evaluate(trainer, heldout), 0.0)]
    log(f"step 0 kernel_distance {history[-1][1]:.5f}")
    start = time.monotonic()
    step = 0
    while step < config.steps and (max_seconds is None or time.monotonic() - start < max_seconds):
        lod = config.lod(step * config.batch_size)
        trainer.set_lod(lod)
        step += 1
        logs = trainer.step(process_reals(mirrored_batch(train_images, config.batch_size, rng), lod))
        if step % config.eval_every == 0 or step == config.steps:
            history.append((step, evaluate(trainer, heldout), time.monotonic() - start))
            log(
                f"step {step} kernel_distance {history[-1][1]:.5f} d_loss {logs['d_loss']:.3f} "
                f"g_loss {logs['g_loss']:.3f} r1 {logs['r1']:.3f} ({history[-1][2]:.0f} s)"
            )
    if history[-1][0] != step:
        history.append((step, evaluate(trainer, heldout), time.monotonic() - start))
    return trainer, history
