"""Style-based generator G = synthesis ∘ (truncation, mixing) ∘ broadcast ∘ mapping, with tracked w̄."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from export.stylegan.networks.config import FromStyleGANConfig, StyleGANConfig
from export.stylegan.networks.layers import lerp
from export.stylegan.networks.mapping import Mapping
from export.stylegan.networks.synthesis import Synthesis


class Generator(FromStyleGANConfig, keras.Model):
    """The official G_style network for inference and training.

    `call(z)` maps, broadcasts w to every layer, applies the truncation trick
    w' = w̄ + ψ(w − w̄) on layers < truncation_cutoff, and synthesises. w̄ (`dlatent_avg`) is a
    non-trainable variable updated by `update_dlatent_avg` during training (β = 0.995).
    """

    def __init__(
        self,
        config: StyleGANConfig,
        truncation_psi: float = 0.7,
        truncation_cutoff: int = 8,
        dlatent_avg_beta: float = 0.995,
        style_mixing_prob: float = 0.9,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.config = config
        self.truncation_psi = truncation_psi
        self.truncation_cutoff = truncation_cutoff
        self.dlatent_avg_beta = dlatent_avg_beta
        self.style_mixing_prob = style_mixing_prob
        self.mapping = Mapping(config, name="G_mapping")
        self.synthesis = Synthesis(config, name="G_synthesis")
        self.dlatent_avg = self.add_weight(
            name="dlatent_avg", shape=(config.dlatent_size,), initializer="zeros", trainable=False
        )
        self.mapping.build((None, config.latent_size))
        self.synthesis.build((None, config.num_layers, config.dlatent_size))
        self.built = True

    @property
    def num_layers(self) -> int:
        return self.config.num_layers

    def broadcast(self, w: tf.Tensor) -> tf.Tensor:
        """w [N, D] → dlatents [N, num_layers, D] (the official mapping's dlatent_broadcast)."""
        return tf.tile(w[:, None, :], [1, self.num_layers, 1])

    def truncate(self, dlatents: tf.Tensor, psi, cutoff=None) -> tf.Tensor:
        """w̄ + ψ(w − w̄) on layers < cutoff; later layers passed through unchanged (bit for bit)."""
        cutoff = self.truncation_cutoff if cutoff is None else cutoff
        layer_idx = tf.range(self.num_layers)[None, :, None]
        truncated = lerp(self.dlatent_avg, dlatents, tf.cast(psi, dlatents.dtype))
        return tf.where(layer_idx < tf.cast(cutoff, tf.int32), truncated, dlatents)

    def mix(self, dlatents1: tf.Tensor, dlatents2: tf.Tensor, crossover) -> tf.Tensor:
        """Style mixing: layers < crossover take dlatents1, layers >= crossover take dlatents2."""
        layer_idx = tf.range(self.num_layers)[None, :, None]
        return tf.where(layer_idx < tf.cast(crossover, tf.int32), dlatents1, dlatents2)

    def update_dlatent_avg(self, dlatents: tf.Tensor, beta: float | None = None) -> None:
        """w̄ ← lerp(batch mean of w, w̄, β), as the official DlatentAvg op."""
        beta = self.dlatent_avg_beta if beta is None else beta
        batch_avg = tf.reduce_mean(dlatents[:, 0], axis=0)
        self.dlatent_avg.assign(lerp(batch_avg, self.dlatent_avg, beta))

    def generate_for_training(self, z: tf.Tensor) -> tf.Tensor:
        """G_style with is_training=True: random noise, no truncation, w̄ tracking and style mixing
        (with probability style_mixing_prob a second z takes over from a crossover in [1, cur_layers),
        cur_layers = num_layers − 2·floor(lod))."""
        dlatents = self.broadcast(self.mapping(z))
        self.update_dlatent_avg(dlatents)
        if self.style_mixing_prob:
            cur_layers = tf.constant(self.num_layers, tf.int32)
            if self.config.progressive:
                cur_layers -= 2 * tf.cast(tf.floor(self.synthesis.lod), tf.int32)
            dlatents2 = self.broadcast(self.mapping(tf.random.normal(tf.shape(z))))
            crossover = tf.cond(
                tf.random.uniform([]) < self.style_mixing_prob,
                lambda: tf.random.uniform([], 1, cur_layers, dtype=tf.int32),
                lambda: cur_layers,
            )
            dlatents = self.mix(dlatents, dlatents2, crossover)
        return self.synthesis(dlatents, randomize_noise=True)

    def call(self, z, truncation_psi=None, truncation_cutoff=None, randomize_noise: bool = False):
        """z [N, latent] → images [N, res, res, C] in about [−1, 1]. ψ = 1 disables truncation."""
        psi = self.truncation_psi if truncation_psi is None else truncation_psi
        dlatents = self.truncate(self.broadcast(self.mapping(z)), psi, truncation_cutoff)
        return self.synthesis(dlatents, randomize_noise=randomize_noise)

    def trainable_parameter_counts(self) -> dict[str, int]:
        """Trainable parameters: mapping, synthesis without ToRGB, ToRGB (all lods), total."""

        def count(variables):
            return int(sum(np.prod(v.shape) for v in variables))

        to_rgb = count(v for layer in self.synthesis.to_rgb for v in layer.trainable_weights)
        mapping = count(self.mapping.trainable_weights)
        synthesis = count(self.synthesis.trainable_weights) - to_rgb
        return {"mapping": mapping, "synthesis": synthesis, "to_rgb": to_rgb, "total": mapping + synthesis + to_rgb}

    def official_variables(self) -> dict[str, keras.Variable]:
        """Official names in the G/Gs network (`G_mapping/…`, `G_synthesis/…`, `dlatent_avg`) → variables."""
        names = {"dlatent_avg": self.dlatent_avg}
        names.update({f"G_mapping/{k}": v for k, v in self.mapping.official_variables().items()})
        names.update({f"G_synthesis/{k}": v for k, v in self.synthesis.official_variables().items()})
        return names

    def fully_grown(self) -> Generator:
        """A fixed-structure copy with the same weights (what a finished progressive run exports)."""
        config = dataclasses.replace(self.config, progressive=False)
        copy = Generator(
            config,
            truncation_psi=self.truncation_psi,
            truncation_cutoff=self.truncation_cutoff,
            dlatent_avg_beta=self.dlatent_avg_beta,
            style_mixing_prob=self.style_mixing_prob,
        )
        source = self.official_variables()
        for name, variable in copy.official_variables().items():
            variable.assign(source[name])
        return copy

    def get_config(self):
        return {
            "stylegan": self.config.to_dict(),
            "truncation_psi": self.truncation_psi,
            "truncation_cutoff": self.truncation_cutoff,
            "dlatent_avg_beta": self.dlatent_avg_beta,
            "style_mixing_prob": self.style_mixing_prob,
            "name": self.name,
        }
