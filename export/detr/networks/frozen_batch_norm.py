"""Batch norm whose statistics and affine parameters never change (DETR's FrozenBatchNorm2d)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="detr")
class FrozenBatchNorm(keras.layers.Layer):
    """`x * w * rsqrt(rv + eps) + (b - rm * w * rsqrt(rv + eps))`, eps 1e-5, channels last.

    The four vectors are non-trainable weights so that they are counted, saved and loaded like the
    official buffers `weight`, `bias`, `running_mean`, `running_var`.
    """

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        channels = input_shape[-1]
        self.weight = self.add_weight(name="weight", shape=(channels,), initializer="ones", trainable=False)
        self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros", trainable=False)
        self.running_mean = self.add_weight(
            name="running_mean", shape=(channels,), initializer="zeros", trainable=False
        )
        self.running_var = self.add_weight(name="running_var", shape=(channels,), initializer="ones", trainable=False)

    def call(self, x):
        scale = self.weight * ops.rsqrt(self.running_var + self.epsilon)
        shift = self.bias - self.running_mean * scale
        return x * ops.cast(scale, x.dtype) + ops.cast(shift, x.dtype)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
