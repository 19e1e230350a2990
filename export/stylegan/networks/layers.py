"""StyleGAN building blocks as reusable Keras layers (NHWC), numerically equal to NVlabs/stylegan.

The official code runs NCHW; these layers run NHWC (the layout TensorFlow supports on CPU). Weight
tensors keep the official shapes wherever the layout allows it ([k, k, in, out] kernels, [in, out]
dense weights), so official arrays load without reshuffling; pickle_reader.py transposes the few
NCHW-shaped variables (the learned constant and the noise inputs).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

SQRT2 = math.sqrt(2.0)


def lerp(a: tf.Tensor, b: tf.Tensor, t: tf.Tensor | float) -> tf.Tensor:
    """a + (b - a)·t, the interpolation used for truncation, w̄ tracking and progressive growing."""
    return a + (b - a) * t


def leaky_relu(x: tf.Tensor, alpha: float = 0.2) -> tf.Tensor:
    """max(x, αx): the official activation (gain √2 is folded into the next layer's weight scale)."""
    return tf.maximum(x, x * alpha)


def upscale2d(x: tf.Tensor, factor: int = 2) -> tf.Tensor:
    """Nearest-neighbour upsampling by an integer factor (the official tile-based upscale2d)."""
    if factor == 1:
        return x
    return tf.repeat(tf.repeat(x, factor, axis=1), factor, axis=2)


def downscale2d(x: tf.Tensor, factor: int = 2) -> tf.Tensor:
    """Box-filter downsampling (average of factor×factor pixels)."""
    if factor == 1:
        return x
    return tf.nn.avg_pool2d(x, factor, factor, "VALID")


class EqualizedDense(keras.layers.Layer):
    """Dense layer with equalized learning rate: w ~ N(0, 1/lrmul), used as w·lrmul·gain/√fan_in.

    The bias (init 0) is multiplied by lrmul at run time, as `apply_bias(x, lrmul)` does.
    """

    def __init__(self, units: int, gain: float = SQRT2, lrmul: float = 1.0, use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.gain = float(gain)
        self.lrmul = float(lrmul)
        self.use_bias = use_bias

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.runtime_coef = float(self.gain / math.sqrt(fan_in) * self.lrmul)
        self.weight = self.add_weight(
            name="weight",
            shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(0.0, 1.0 / self.lrmul),
        )
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, x):
        y = tf.matmul(x, self.weight * self.runtime_coef)
        if self.use_bias:
            y = y + self.bias * self.lrmul
        return y

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "gain": self.gain,
            "lrmul": self.lrmul,
            "use_bias": self.use_bias,
        }


class EqualizedConv2D(keras.layers.Layer):
    """k×k 'SAME' convolution with equalized learning rate, optionally fused with 2× resampling.

    resample: None; "up" = nearest upscale then conv, or (fused) a stride-2 transposed conv whose
    4×4 kernel is the sum of the 3×3 kernel at its four offsets (upscale2d_conv2d); "down" = conv then
    2×2 average, or (fused) a stride-2 conv with that summed kernel × ¼ (conv2d_downscale2d).
    Fused and unfused downsampling compute the same function; fused upsampling (the official transposed
    conv) differs from nearest-upscale + conv by a kernel flip, exactly as in the official code.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int,
        gain: float = SQRT2,
        lrmul: float = 1.0,
        use_bias: bool = False,
        resample: str | None = None,
        fused: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kernel_size < 1 or kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
        if resample not in (None, "up", "down"):
            raise ValueError(f"resample must be None, 'up' or 'down', got {resample!r}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.gain = float(gain)
        self.lrmul = float(lrmul)
        self.use_bias = use_bias
        self.resample = resample
        self.fused = fused

    def build(self, input_shape):
        fmaps_in = int(input_shape[-1])
        fan_in = self.kernel_size * self.kernel_size * fmaps_in
        self.runtime_coef = float(self.gain / math.sqrt(fan_in) * self.lrmul)
        self.weight = self.add_weight(
            name="weight",
            shape=(self.kernel_size, self.kernel_size, fmaps_in, self.filters),
            initializer=keras.initializers.RandomNormal(0.0, 1.0 / self.lrmul),
        )
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    @staticmethod
    def _summed_kernel(w: tf.Tensor) -> tf.Tensor:
        """Pad the kernel by one and add its four 1-pixel shifts: k×k → (k+1)×(k+1)."""
        w = tf.pad(w, [[1, 1], [1, 1], [0, 0], [0, 0]])
        return w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]

    def call(self, x):
        w = self.weight * self.runtime_coef
        if self.resample == "up" and self.fused:
            w = tf.transpose(self._summed_kernel(w), [0, 1, 3, 2])  # [k, k, out, in]
            shape = tf.shape(x)
            out_shape = tf.stack([shape[0], shape[1] * 2, shape[2] * 2, self.filters])
            y = tf.nn.conv2d_transpose(x, w, out_shape, strides=2, padding="SAME")
            y = tf.ensure_shape(
                y,
                [
                    None,
                    None if x.shape[1] is None else x.shape[1] * 2,
                    None if x.shape[2] is None else x.shape[2] * 2,
                    self.filters,
                ],
            )
        elif self.resample == "up":
            y = tf.nn.conv2d(upscale2d(x), w, strides=1, padding="SAME")
        elif self.resample == "down" and self.fused:
            y = tf.nn.conv2d(x, self._summed_kernel(w) * 0.25, strides=2, padding="SAME")
        elif self.resample == "down":
            y = downscale2d(tf.nn.conv2d(x, w, strides=1, padding="SAME"))
        else:
            y = tf.nn.conv2d(x, w, strides=1, padding="SAME")
        if self.use_bias:
            y = y + self.bias * self.lrmul
        return y

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "gain": self.gain,
            "lrmul": self.lrmul,
            "use_bias": self.use_bias,
            "resample": self.resample,
            "fused": self.fused,
        }


class Blur2D(keras.layers.Layer):
    """Depthwise low-pass filter, separable outer product of `taps`, normalised to sum 1, zero padded."""

    def __init__(self, taps: tuple[float, ...] = (1.0, 2.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        self.taps = tuple(float(t) for t in taps)

    def build(self, input_shape):
        f = np.asarray(self.taps, np.float32)
        f = np.outer(f, f)
        f /= f.sum()
        self.kernel = tf.constant(np.tile(f[:, :, None, None], [1, 1, int(input_shape[-1]), 1]))

    def call(self, x):
        return tf.nn.depthwise_conv2d(x, self.kernel, strides=[1, 1, 1, 1], padding="SAME")

    def get_config(self):
        return {**super().get_config(), "taps": list(self.taps)}


class PixelNorm(keras.layers.Layer):
    """x / √(mean over features of x² + ε): normalises each latent vector (each pixel for maps)."""

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x):
        return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


class InstanceNorm(keras.layers.Layer):
    """Per-sample, per-channel normalisation over the spatial axes, without learned affine terms."""

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x):
        x = x - tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=[1, 2], keepdims=True) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


class StyleMod(keras.layers.Layer):
    """AdaIN style modulation: (ys, yb) = dense(w) with gain 1, output x·(ys + 1) + yb."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.dense = EqualizedDense(2 * channels, gain=1.0, name="StyleMod")

    def build(self, input_shape):
        self.dense.build(input_shape[1])  # (x shape, w shape)

    def call(self, inputs):
        x, w = inputs
        style = self.dense(w)
        ys = style[:, None, None, : self.channels]
        yb = style[:, None, None, self.channels :]
        return x * (ys + 1.0) + yb

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


class NoiseInjection(keras.layers.Layer):
    """x + noise·strength, noise [N|1, H, W, 1] shared by all channels, strength per channel (init 0)."""

    def build(self, input_shape):
        x_shape = input_shape[0]
        self.weight = self.add_weight(name="weight", shape=(int(x_shape[-1]),), initializer="zeros")

    def call(self, inputs):
        x, noise = inputs
        return x + noise * self.weight


class LayerEpilogue(keras.layers.Layer):
    """What follows every synthesis conv: noise → bias → leaky ReLU → instance norm → style mod."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.noise = NoiseInjection(name="Noise")
        self.instance_norm = InstanceNorm()
        self.style_mod = StyleMod(channels, name="StyleMod")

    def build(self, input_shape):
        x_shape, noise_shape, w_shape = input_shape
        self.noise.build((x_shape, noise_shape))
        self.bias = self.add_weight(name="bias", shape=(self.channels,), initializer="zeros")
        self.style_mod.build((x_shape, w_shape))

    def call(self, inputs):
        x, noise, w = inputs
        x = self.noise((x, noise))
        x = leaky_relu(x + self.bias)
        x = self.instance_norm(x)
        return self.style_mod((x, w))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


class MinibatchStddev(keras.layers.Layer):
    """Appends the mean standard deviation over sample groups as extra feature maps (discriminator)."""

    def __init__(self, group_size: int = 4, num_new_features: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.group_size = group_size
        self.num_new_features = num_new_features

    def call(self, x):
        g = tf.minimum(self.group_size, tf.shape(x)[0])
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        n = self.num_new_features
        y = tf.reshape(x, [g, -1, h, w, n, c // n])  # sample index = group·M + member
        y = y - tf.reduce_mean(y, axis=0, keepdims=True)
        y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + 1e-8)  # [M, H, W, n, c/n]
        y = tf.reduce_mean(y, axis=[1, 2, 4])  # [M, n]
        y = tf.tile(y[:, None, None, :], [g, h, w, 1])  # [N, H, W, n]
        return tf.concat([x, y], axis=-1)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size, "num_new_features": self.num_new_features}
