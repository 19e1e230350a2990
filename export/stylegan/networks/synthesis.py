"""Synthesis network g: per-layer styles w [N, num_layers, dlatent] → image [N, res, res, C] in [−1, 1]."""

from __future__ import annotations

import keras
import tensorflow as tf

from export.stylegan.networks.config import ConfiguredLayer, StyleGANConfig
from export.stylegan.networks.layers import Blur2D, EqualizedConv2D, LayerEpilogue, lerp, upscale2d


def layer_scope(layer_idx: int) -> str:
    """Official variable scope of synthesis layer `layer_idx` (e.g. 0 → '4x4/Const', 2 → '8x8/Conv0_up')."""
    if layer_idx < 2:
        return "4x4/Const" if layer_idx == 0 else "4x4/Conv"
    res = 2 ** (layer_idx // 2 + 2)
    return f"{res}x{res}/" + ("Conv0_up" if layer_idx % 2 == 0 else "Conv1")


def layer_resolution(layer_idx: int) -> int:
    return 2 ** (layer_idx // 2 + 2)


class Synthesis(ConfiguredLayer):
    """Learned 4×4 constant, then per resolution: [up-conv + blur | conv] each followed by the epilogue
    (noise → bias → lrelu → instance norm → style mod), and a 1×1 ToRGB.

    Every ToRGB of the progressive-growing schedule (ToRGB_lod0 … lod{log2(res)−2}) exists, as in the
    official network (they count as parameters and load from pickles); the fixed structure outputs
    ToRGB_lod0. With `config.progressive` the official linear structure runs instead: every resolution's
    ToRGB image is upscaled and cross-faded by the non-trainable `lod` (0 = fully grown). The per-layer noise
    images are non-trainable variables
    `noise{i}` [1, H, W, 1] (official `noise{i}` [1, 1, H, W]), read when `randomize_noise=False`.
    """

    def __init__(self, config: StyleGANConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        n = config.num_layers
        self.epilogues = [LayerEpilogue(self._channels(i), name=_keras_name(layer_scope(i))) for i in range(n)]
        self.convs = [None] + [
            EqualizedConv2D(
                self._channels(i),
                3,
                resample="up" if i % 2 == 0 else None,
                fused=i % 2 == 0 and config.fused_scale(layer_resolution(i)),
                name=_keras_name(layer_scope(i)) + "_conv",
            )
            for i in range(1, n)
        ]
        self.blurs = [Blur2D() if i >= 2 and i % 2 == 0 else None for i in range(n)]
        self.to_rgb = [
            EqualizedConv2D(config.num_channels, 1, gain=1.0, use_bias=True, name=f"ToRGB_lod{lod}")
            for lod in range(config.resolution_log2 - 1)
        ]  # index = lod

    def _channels(self, layer_idx: int) -> int:
        return self.config.nf(layer_idx // 2 + 1)

    def build(self, input_shape):
        c = self.config
        w_shape = (None, c.dlatent_size)
        if c.progressive:
            self.lod = self.add_weight(name="lod", shape=(), initializer="zeros", trainable=False)
        self.const = self.add_weight(name="const", shape=(1, 4, 4, c.nf(1)), initializer="ones")
        self.noise_inputs = [
            self.add_weight(
                name=f"noise{i}",
                shape=(1, layer_resolution(i), layer_resolution(i), 1),
                initializer=keras.initializers.RandomNormal(0.0, 1.0),
                trainable=False,
            )
            for i in range(c.num_layers)
        ]
        channels_in = c.nf(1)
        for i in range(c.num_layers):
            res = layer_resolution(i)
            x_shape = (None, res, res, self._channels(i))
            if self.convs[i] is not None:
                in_res = res // 2 if i % 2 == 0 else res
                self.convs[i].build((None, in_res, in_res, channels_in))
            if self.blurs[i] is not None:
                self.blurs[i].build(x_shape)
            self.epilogues[i].build((x_shape, (None, res, res, 1), w_shape))
            channels_in = self._channels(i)
        for lod, layer in enumerate(self.to_rgb):
            res = 2 ** (c.resolution_log2 - lod)
            layer.build((None, res, res, c.nf(c.resolution_log2 - lod - 1)))

    def noise(self, layer_idx: int, x: tf.Tensor, randomize_noise: bool) -> tf.Tensor:
        if randomize_noise:
            shape = tf.shape(x)
            return tf.random.normal([shape[0], shape[1], shape[2], 1], dtype=x.dtype)
        return self.noise_inputs[layer_idx]

    def _layer(self, i: int, x: tf.Tensor, dlatents: tf.Tensor, randomize_noise: bool) -> tf.Tensor:
        if self.convs[i] is not None:
            x = self.convs[i](x)
        if self.blurs[i] is not None:
            x = self.blurs[i](x)
        return self.epilogues[i]((x, self.noise(i, x, randomize_noise), dlatents[:, i]))

    def call(self, dlatents, randomize_noise: bool = False):
        batch = tf.shape(dlatents)[0]
        x = tf.tile(self.const, [batch, 1, 1, 1])
        if not self.config.progressive:
            for i in range(self.config.num_layers):
                x = self._layer(i, x, dlatents, randomize_noise)
            return self.to_rgb[0](x)
        log2 = self.config.resolution_log2
        for i in (0, 1):
            x = self._layer(i, x, dlatents, randomize_noise)
        images = self.to_rgb[log2 - 2](x)
        for res in range(3, log2 + 1):
            lod = log2 - res
            for i in (2 * res - 4, 2 * res - 3):
                x = self._layer(i, x, dlatents, randomize_noise)
            # lerp_clip(img, upscaled previous images, lod_in − lod), as the official Grow_lod scopes.
            images = lerp(self.to_rgb[lod](x), upscale2d(images), tf.clip_by_value(self.lod - lod, 0.0, 1.0))
        return images

    def official_variables(self) -> dict[str, keras.Variable]:
        """Official local names (as in the G_synthesis network) → variables (NHWC layouts)."""
        names = {"4x4/Const/const": self.const}
        for i, epilogue in enumerate(self.epilogues):
            scope = layer_scope(i)
            names[f"noise{i}"] = self.noise_inputs[i]
            if self.convs[i] is not None:
                names[f"{scope}/weight"] = self.convs[i].weight
            names[f"{scope}/Noise/weight"] = epilogue.noise.weight
            names[f"{scope}/bias"] = epilogue.bias
            names[f"{scope}/StyleMod/weight"] = epilogue.style_mod.dense.weight
            names[f"{scope}/StyleMod/bias"] = epilogue.style_mod.dense.bias
        for lod, layer in enumerate(self.to_rgb):
            names[f"ToRGB_lod{lod}/weight"] = layer.weight
            names[f"ToRGB_lod{lod}/bias"] = layer.bias
        return names


def _keras_name(scope: str) -> str:
    """Keras layer names cannot contain '/': '8x8/Conv0_up' → '8x8_Conv0_up'."""
    return scope.replace("/", "_")
