"""Discriminator D (official D_basic): the generator mirrored, minibatch-stddev and two dense layers."""

from __future__ import annotations

import keras
import tensorflow as tf

from export.stylegan.networks.config import FromStyleGANConfig, StyleGANConfig
from export.stylegan.networks.layers import (
    Blur2D,
    EqualizedConv2D,
    EqualizedDense,
    MinibatchStddev,
    downscale2d,
    leaky_relu,
    lerp,
)


class Discriminator(FromStyleGANConfig, keras.Model):
    """images [N, res, res, C] in [−1, 1] → realness scores [N, 1] (logits).

    As in the official network every FromRGB of the progressive schedule exists (FromRGB_lod0 …);
    the fixed (fully grown) structure uses FromRGB_lod0. With `config.progressive` the official linear
    structure cross-fades each block's output with FromRGB of the downscaled image by the `lod` variable.
    """

    def __init__(self, config: StyleGANConfig, mbstd_group_size: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.mbstd_group_size = mbstd_group_size
        c, log2 = config, config.resolution_log2
        self.from_rgb = [
            EqualizedConv2D(c.nf(log2 - lod - 1), 1, use_bias=True, name=f"FromRGB_lod{lod}") for lod in range(log2 - 1)
        ]  # index = lod
        self.block_resolutions = list(range(log2, 2, -1))
        self.blocks = []
        for res in self.block_resolutions:
            size = 2**res
            self.blocks.append(
                (
                    EqualizedConv2D(c.nf(res - 1), 3, use_bias=True, name=f"{size}x{size}_Conv0"),
                    Blur2D(),
                    EqualizedConv2D(
                        c.nf(res - 2),
                        3,
                        use_bias=True,
                        resample="down",
                        fused=c.fused_scale(size),
                        name=f"{size}x{size}_Conv1_down",
                    ),
                )
            )
        self.mbstd = MinibatchStddev(mbstd_group_size)
        self.conv4 = EqualizedConv2D(c.nf(1), 3, use_bias=True, name="4x4_Conv")
        self.dense0 = EqualizedDense(c.nf(0), name="4x4_Dense0")
        self.dense1 = EqualizedDense(1, gain=1.0, name="4x4_Dense1")
        self._build_all()

    def _build_all(self):
        c, log2 = self.config, self.config.resolution_log2
        for lod, layer in enumerate(self.from_rgb):
            res = 2 ** (log2 - lod)
            layer.build((None, res, res, c.num_channels))
        for res, (conv0, blur, conv1) in zip(self.block_resolutions, self.blocks):
            size = 2**res
            conv0.build((None, size, size, c.nf(res - 1)))
            blur.build((None, size, size, c.nf(res - 1)))
            conv1.build((None, size, size, c.nf(res - 1)))
        self.conv4.build((None, 4, 4, c.nf(1) + 1))
        self.dense0.build((None, c.nf(1) * 16))
        self.dense1.build((None, c.nf(0)))
        if c.progressive:
            self.lod = self.add_weight(name="lod", shape=(), initializer="zeros", trainable=False)
        self.built = True

    def call(self, images):
        x = leaky_relu(self.from_rgb[0](images))
        for lod, (conv0, blur, conv1) in enumerate(self.blocks):
            x = leaky_relu(conv0(x))
            x = leaky_relu(conv1(blur(x)))
            if self.config.progressive:
                images = downscale2d(images)
                y = leaky_relu(self.from_rgb[lod + 1](images))
                x = lerp(x, y, tf.clip_by_value(self.lod - lod, 0.0, 1.0))
        if self.mbstd_group_size > 1:
            x = self.mbstd(x)
        x = leaky_relu(self.conv4(x))
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, self.config.nf(1) * 16])  # official NCHW flatten order
        x = leaky_relu(self.dense0(x))
        return self.dense1(x)

    def official_variables(self) -> dict[str, keras.Variable]:
        """Official names in the D network → variables."""
        names = {}
        for lod, layer in enumerate(self.from_rgb):
            names[f"FromRGB_lod{lod}/weight"] = layer.weight
            names[f"FromRGB_lod{lod}/bias"] = layer.bias
        for res, (conv0, _, conv1) in zip(self.block_resolutions, self.blocks):
            size = 2**res
            for scope, layer in ((f"{size}x{size}/Conv0", conv0), (f"{size}x{size}/Conv1_down", conv1)):
                names[f"{scope}/weight"] = layer.weight
                names[f"{scope}/bias"] = layer.bias
        for scope, layer in (("4x4/Conv", self.conv4), ("4x4/Dense0", self.dense0), ("4x4/Dense1", self.dense1)):
            names[f"{scope}/weight"] = layer.weight
            names[f"{scope}/bias"] = layer.bias
        return names

    def get_config(self):
        return {"stylegan": self.config.to_dict(), "mbstd_group_size": self.mbstd_group_size, "name": self.name}
