"""Sine position embedding of a padding mask (DETR's PositionEmbeddingSine with normalize=True)."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="detr")
class PositionEmbeddingSine(keras.layers.Layer):
    """Mask [N, H, W] (True on padding) -> [N, H, W, 2 * num_pos_feats] = concat(pos_y, pos_x).

    Coordinates are the cumulative count of real pixels along each axis, divided by the last value
    (+1e-6) and scaled to 2*pi, so padding does not change the embedding of real pixels. Channel 2k is
    sin and 2k+1 is cos of the same frequency temperature ** (2k / num_pos_feats).
    """

    def __init__(self, num_pos_feats: int = 128, temperature: float = 10000.0, scale: float = 2 * math.pi, **kwargs):
        super().__init__(**kwargs)
        self.num_pos_feats, self.temperature, self.scale = num_pos_feats, temperature, scale

    def call(self, mask):
        not_mask = ops.cast(ops.logical_not(mask), "float32")
        y_embed = ops.cumsum(not_mask, axis=1)
        x_embed = ops.cumsum(not_mask, axis=2)
        eps = 1e-6
        y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
        x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale
        index = ops.arange(self.num_pos_feats, dtype="float32")
        dim_t = ops.power(self.temperature, 2.0 * ops.floor(index / 2.0) / self.num_pos_feats)
        even = ops.equal(ops.mod(ops.arange(self.num_pos_feats), 2), 0)

        def embed(coordinate):
            phase = coordinate[..., None] / dim_t
            return ops.where(even, ops.sin(phase), ops.cos(phase))

        return ops.concatenate([embed(y_embed), embed(x_embed)], axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "num_pos_feats": self.num_pos_feats,
            "temperature": self.temperature,
            "scale": self.scale,
        }
