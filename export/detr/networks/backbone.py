"""ResNet v1.5 backbone with frozen batch norm, as torchvision builds it for DETR.

v1.5 puts the stride on the 3x3 conv of a bottleneck. PyTorch pads symmetrically; Keras 'same'
padding is asymmetric for stride 2, so every padded conv here is an explicit ZeroPadding2D followed
by a 'valid' conv. The max pool pads with zeros instead of -inf: it follows a ReLU, so both give the
same maximum.
"""

from collections.abc import Sequence

import keras
from keras import ops

from export.detr.networks.frozen_batch_norm import FrozenBatchNorm
from export.detr.networks.interpolate import resize_nearest

BLOCKS = {"resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3)}
EXPANSION = 4


def _conv(filters: int, kernel: int, stride: int = 1, dilation: int = 1, name: str | None = None):
    return keras.layers.Conv2D(
        filters, kernel, strides=stride, dilation_rate=dilation, padding="valid", use_bias=False, name=name
    )


@keras.saving.register_keras_serializable(package="detr")
class Bottleneck(keras.layers.Layer):
    """1x1 -> 3x3 (stride, dilation) -> 1x1 (x4 channels), each with frozen BN, plus the shortcut."""

    def __init__(self, planes: int, stride: int = 1, dilation: int = 1, downsample: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.planes, self.stride, self.dilation, self.has_downsample = planes, stride, dilation, downsample
        self.conv1, self.bn1 = _conv(planes, 1), FrozenBatchNorm()
        self.pad2 = keras.layers.ZeroPadding2D(dilation)
        self.conv2, self.bn2 = _conv(planes, 3, stride, dilation), FrozenBatchNorm()
        self.conv3, self.bn3 = _conv(planes * EXPANSION, 1), FrozenBatchNorm()
        if downsample:
            self.downsample_conv = _conv(planes * EXPANSION, 1, stride)
            self.downsample_bn = FrozenBatchNorm()

    def call(self, x):
        out = ops.relu(self.bn1(self.conv1(x)))
        out = ops.relu(self.bn2(self.conv2(self.pad2(out))))
        out = self.bn3(self.conv3(out))
        shortcut = self.downsample_bn(self.downsample_conv(x)) if self.has_downsample else x
        return ops.relu(out + shortcut)

    def get_config(self):
        return {
            **super().get_config(),
            "planes": self.planes,
            "stride": self.stride,
            "dilation": self.dilation,
            "downsample": self.has_downsample,
        }


@keras.saving.register_keras_serializable(package="detr")
class ResNetBody(keras.layers.Layer):
    """torchvision ResNet without avgpool/fc, returning layer4 (stride 32, or 16 with dilation).

    `return_intermediate=True` returns every stage instead, [layer1, layer2, layer3, layer4] (the
    official `return_interm_layers`, which the panoptic mask head needs): the same weights, one pass.
    """

    def __init__(self, blocks: Sequence[int] = BLOCKS["resnet50"], width: int = 64, dilation: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.blocks, self.width, self.dilation = tuple(blocks), width, dilation
        self.pad1 = keras.layers.ZeroPadding2D(3)
        self.conv1, self.bn1 = _conv(width, 7, 2), FrozenBatchNorm()
        self.pool_pad = keras.layers.ZeroPadding2D(1)
        self.maxpool = keras.layers.MaxPooling2D(3, strides=2, padding="valid")
        self.stages = []
        in_channels, current_dilation = width, 1
        for index, count in enumerate(self.blocks):
            planes = width * 2**index
            stride = 1 if index == 0 else 2
            previous_dilation = current_dilation
            if dilation and index == len(self.blocks) - 1:
                current_dilation *= stride
                stride = 1
            downsample = stride != 1 or in_channels != planes * EXPANSION
            stage = [Bottleneck(planes, stride, previous_dilation, downsample)]
            stage += [Bottleneck(planes, 1, current_dilation) for _ in range(1, count)]
            self.stages.append(stage)
            in_channels = planes * EXPANSION
        self.num_channels = in_channels

    @property
    def stage_channels(self) -> list[int]:
        """Output channels of layer1..layer4 (256, 512, 1024, 2048 for ResNet-50/101)."""
        return [self.width * 2**index * EXPANSION for index in range(len(self.blocks))]

    def call(self, x, return_intermediate: bool = False):
        x = ops.relu(self.bn1(self.conv1(self.pad1(x))))
        x = self.maxpool(self.pool_pad(x))
        outputs = []
        for stage in self.stages:
            for block in stage:
                x = block(x)
            outputs.append(x)
        return outputs if return_intermediate else x

    def get_config(self):
        return {**super().get_config(), "blocks": list(self.blocks), "width": self.width, "dilation": self.dilation}


def downsample_mask(mask, height, width):
    """The padding mask [N, H, W] at a feature map's size, as the official backbone computes it
    (`F.interpolate(mask[None].float(), size).bool()`, nearest)."""
    return resize_nearest(mask, height, width)
