"""The panoptic mask head: a small FPN-style conv head that turns each query's attention maps into a
mask at 1/4 of the input resolution (DETR's MaskHeadSmallConv)."""

from collections.abc import Sequence

import keras
from keras import ops

from export.detr.networks.interpolate import resize_nearest

GROUPS = 8  # GroupNorm groups of every conv block, as the official head
GROUP_NORM_EPS = 1e-5  # PyTorch's default; Keras defaults to 1e-3


def _conv(filters: int, kernel: int):
    """The official init: kaiming_uniform(a=1) (uniform, bound sqrt(3 / fan_in)), zero bias."""
    return keras.layers.Conv2D(
        filters, kernel, padding="same", kernel_initializer=keras.initializers.VarianceScaling(1.0, "fan_in", "uniform")
    )


@keras.saving.register_keras_serializable(package="detr")
class MaskHeadSmallConv(keras.layers.Layer):
    """features [N, h, w, d] (DETR's projected layer4), attention maps [N, Q, h, w, heads] and the
    FPN features [layer3, layer2, layer1] -> mask logits [N * Q, H/4, W/4, 1] (query-major per image).

    dim = d + heads. Five 3x3 conv + GroupNorm(8) + ReLU blocks narrow the channels
    dim -> d/2 -> d/4 -> d/8 -> d/16; between them the map is upsampled (nearest, to the next FPN
    level's size) and added to a 1x1 adapter of that level (layer3, then layer2, then layer1); a last
    3x3 conv gives one logit per pixel.
    """

    def __init__(self, dim: int, fpn_dims: Sequence[int], context_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.fpn_dims, self.context_dim = dim, tuple(fpn_dims), context_dim
        inter_dims = [dim, context_dim // 2, context_dim // 4, context_dim // 8, context_dim // 16]
        bad = [n for n in inter_dims if n % GROUPS]
        if bad:
            raise ValueError(
                f"mask head widths {inter_dims} must be multiples of {GROUPS} (GroupNorm groups); "
                f"got {bad}: hidden_dim must be a multiple of 128 and hidden_dim + num_heads of 8"
            )
        for i, filters in enumerate(inter_dims, start=1):
            setattr(self, f"lay{i}", _conv(filters, 3))
            setattr(self, f"gn{i}", keras.layers.GroupNormalization(GROUPS, epsilon=GROUP_NORM_EPS))
        self.out_lay = _conv(1, 3)
        for i, filters in enumerate(inter_dims[1:4], start=1):
            setattr(self, f"adapter{i}", _conv(filters, 1))

    def _block(self, index: int, x):
        return ops.relu(getattr(self, f"gn{index}")(getattr(self, f"lay{index}")(x)))

    def call(self, features, bbox_mask, fpns):
        num_queries = ops.shape(bbox_mask)[1]
        x = ops.repeat(features, num_queries, axis=0)
        attention = ops.reshape(bbox_mask, (-1, *ops.shape(bbox_mask)[2:]))
        x = self._block(2, self._block(1, ops.concatenate([x, attention], axis=-1)))
        for level, fpn in enumerate(fpns, start=1):
            adapted = ops.repeat(getattr(self, f"adapter{level}")(fpn), num_queries, axis=0)
            x = adapted + resize_nearest(x, ops.shape(adapted)[1], ops.shape(adapted)[2])
            x = self._block(level + 2, x)
        return self.out_lay(x)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "fpn_dims": list(self.fpn_dims),
            "context_dim": self.context_dim,
        }
