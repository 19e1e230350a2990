"""Mapping network f: z → w (pixel norm, then dense layers with learning-rate multiplier 0.01)."""

from __future__ import annotations

import keras

from export.stylegan.networks.config import ConfiguredLayer, StyleGANConfig
from export.stylegan.networks.layers import EqualizedDense, PixelNorm, leaky_relu


class Mapping(ConfiguredLayer):
    """z [N, latent_size] → w [N, dlatent_size]. The official net also broadcasts w to every layer;
    here the generator does that, so `mapping` returns one w per sample."""

    def __init__(self, config: StyleGANConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.pixel_norm = PixelNorm()
        self.dense_layers = [
            EqualizedDense(
                config.dlatent_size if i == config.mapping_layers - 1 else config.mapping_fmaps,
                lrmul=config.mapping_lrmul,
                name=f"Dense{i}",
            )
            for i in range(config.mapping_layers)
        ]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.dense_layers:
            layer.build(shape)
            shape = (shape[0], layer.units)

    def call(self, z):
        x = self.pixel_norm(z)
        for layer in self.dense_layers:
            x = leaky_relu(layer(x))
        return x

    def official_variables(self) -> dict[str, keras.Variable]:
        """Official local names (as in the G_mapping network) → variables."""
        names = {}
        for layer in self.dense_layers:
            names[f"{layer.name}/weight"] = layer.weight
            names[f"{layer.name}/bias"] = layer.bias
        return names
