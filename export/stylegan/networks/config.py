"""Hyper-parameters shared by the StyleGAN generator and discriminator (official defaults = config F)."""

from __future__ import annotations

import dataclasses
import math

import keras


@dataclasses.dataclass(frozen=True)
class StyleGANConfig:
    """Network shape. The defaults are the official FFHQ 1024² configuration."""

    resolution: int = 1024
    num_channels: int = 3
    latent_size: int = 512
    dlatent_size: int = 512
    mapping_layers: int = 8
    mapping_fmaps: int = 512
    mapping_lrmul: float = 0.01
    fmap_base: int = 8192
    fmap_decay: float = 1.0
    fmap_max: int = 512
    # Progressive growing: build the official 'linear' structure that fades between levels of detail
    # by a non-trainable `lod` variable. False = the fully grown ('fixed') structure, same output at lod 0.
    progressive: bool = False

    def __post_init__(self):
        log2 = math.log2(self.resolution) if self.resolution > 0 else 0.5
        if log2 != int(log2) or not 8 <= self.resolution <= 1024:
            raise ValueError(f"resolution must be a power of two from 8 to 1024, got {self.resolution}")

    @property
    def resolution_log2(self) -> int:
        return int(math.log2(self.resolution))

    @property
    def num_layers(self) -> int:
        """Number of synthesis layers, each with its own style input: 2·log2(res) − 2."""
        return 2 * self.resolution_log2 - 2

    def nf(self, stage: int) -> int:
        """Feature maps at a stage: min(fmap_base / 2^(stage·decay), fmap_max)."""
        return min(int(self.fmap_base / (2.0 ** (stage * self.fmap_decay))), self.fmap_max)

    @staticmethod
    def fused_scale(resolution: int) -> bool:
        """The official 'auto' rule: resampling is fused into the conv from 128² up."""
        return resolution >= 128

    def to_dict(self) -> dict:
        """Plain dict of the fields, for Keras get_config."""
        return dataclasses.asdict(self)


class FromStyleGANConfig:
    """`from_config` for layers and models built from a ``StyleGANConfig`` (their first argument), whose
    ``get_config`` carries it as a plain dict under "stylegan"."""

    config: StyleGANConfig

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(StyleGANConfig(**config.pop("stylegan")), **config)


class ConfiguredLayer(FromStyleGANConfig, keras.layers.Layer):
    """A network layer built from a ``StyleGANConfig``, which ``get_config`` carries."""

    def get_config(self):
        return {**super().get_config(), "stylegan": self.config.to_dict()}
