"""The EfficientNet network: stem, seven stages of MBConv blocks, head.

Layer names, order and shapes follow ``keras.applications.EfficientNetB*`` (itself a port of the
tensorflow/tpu reference), so the published Keras weight files load into it by topology.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from export.efficientnet.networks.scaling import Scaling, round_filters, round_repeats
from export.signatures.image_options import IMAGENET_MEAN, IMAGENET_STD

CONV_INIT = keras.initializers.VarianceScaling(2.0, "fan_out", "truncated_normal")
DENSE_INIT = keras.initializers.VarianceScaling(1.0 / 3.0, "fan_out", "uniform")


@dataclass(frozen=True)
class Stage:
    """One stage of B0: MBConv kernel, block count, channels in/out, expansion, first stride."""

    kernel: int
    repeats: int
    filters_in: int
    filters_out: int
    expand_ratio: int
    stride: int
    se_ratio: float = 0.25


B0_STAGES = (
    Stage(3, 1, 32, 16, 1, 1),
    Stage(3, 2, 16, 24, 6, 2),
    Stage(5, 2, 24, 40, 6, 2),
    Stage(3, 3, 40, 80, 6, 2),
    Stage(5, 3, 80, 112, 6, 1),
    Stage(5, 4, 112, 192, 6, 2),
    Stage(3, 1, 192, 320, 6, 1),
)


def _downsample_padding(size: int | None, kernel: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Explicit padding that makes a stride-2 'valid' conv equal TensorFlow's 'same' one."""
    adjust = 1 if size is None else 1 - size % 2
    half = kernel // 2
    return ((half - adjust, half), (half - adjust, half))


def mbconv(
    x,
    *,
    filters_in: int,
    filters_out: int,
    kernel: int,
    stride: int,
    expand_ratio: int,
    se_ratio: float,
    drop_rate: float,
    name: str,
):
    """Mobile inverted bottleneck: expand 1×1, depthwise k×k, squeeze-and-excite, project 1×1."""
    inputs = x
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = layers.Conv2D(
            filters, 1, padding="same", use_bias=False, kernel_initializer=CONV_INIT, name=f"{name}expand_conv"
        )(x)
        x = layers.BatchNormalization(name=f"{name}expand_bn")(x)
        x = layers.Activation("swish", name=f"{name}expand_activation")(x)
    if stride == 2:
        x = layers.ZeroPadding2D(_downsample_padding(x.shape[1], kernel), name=f"{name}dwconv_pad")(x)
    x = layers.DepthwiseConv2D(
        kernel,
        strides=stride,
        padding="valid" if stride == 2 else "same",
        use_bias=False,
        depthwise_initializer=CONV_INIT,
        name=f"{name}dwconv",
    )(x)
    x = layers.BatchNormalization(name=f"{name}bn")(x)
    x = layers.Activation("swish", name=f"{name}activation")(x)

    squeezed = max(1, int(filters_in * se_ratio))
    se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se = layers.Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
    se = layers.Conv2D(
        squeezed, 1, padding="same", activation="swish", kernel_initializer=CONV_INIT, name=f"{name}se_reduce"
    )(se)
    se = layers.Conv2D(
        filters, 1, padding="same", activation="sigmoid", kernel_initializer=CONV_INIT, name=f"{name}se_expand"
    )(se)
    x = layers.multiply([x, se], name=f"{name}se_excite")

    x = layers.Conv2D(
        filters_out, 1, padding="same", use_bias=False, kernel_initializer=CONV_INIT, name=f"{name}project_conv"
    )(x)
    x = layers.BatchNormalization(name=f"{name}project_bn")(x)
    if stride == 1 and filters_in == filters_out:
        if drop_rate > 0:  # stochastic depth: drops the whole residual branch per example
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.add([x, inputs], name=f"{name}add")
    return x


def build_efficientnet(
    scaling: Scaling, *, num_classes: int = 1000, drop_connect_rate: float = 0.2, stages: tuple[Stage, ...] = B0_STAGES
) -> keras.Model:
    """EfficientNet taking float RGB pixels in [0, 255] of size ``scaling.resolution``, returning softmax.

    Normalisation is part of the model: ``Rescaling(1/255)`` then ``Normalization`` holding the
    ImageNet mean and variance (std², the true variance; see ``weights.py`` for the published files).
    """
    size = scaling.resolution
    pixels = keras.Input((size, size, 3), name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="rescaling")(pixels)
    # Adaptable Normalization: it stores mean, variance and count, as the published files do.
    x = layers.Normalization(name="normalization")(x)
    x = layers.ZeroPadding2D(_downsample_padding(size, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(
        round_filters(32, scaling.width),
        3,
        strides=2,
        padding="valid",
        use_bias=False,
        kernel_initializer=CONV_INIT,
        name="stem_conv",
    )(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("swish", name="stem_activation")(x)

    total_blocks = sum(round_repeats(s.repeats, scaling.depth) for s in stages)
    index = 0
    for stage_number, stage in enumerate(stages, start=1):
        filters_in = round_filters(stage.filters_in, scaling.width)
        filters_out = round_filters(stage.filters_out, scaling.width)
        for repeat in range(round_repeats(stage.repeats, scaling.depth)):
            x = mbconv(
                x,
                filters_in=filters_in if repeat == 0 else filters_out,
                filters_out=filters_out,
                kernel=stage.kernel,
                stride=stage.stride if repeat == 0 else 1,
                expand_ratio=stage.expand_ratio,
                se_ratio=stage.se_ratio,
                drop_rate=drop_connect_rate * index / total_blocks,
                name=f"block{stage_number}{chr(ord('a') + repeat)}_",
            )
            index += 1

    x = layers.Conv2D(
        round_filters(1280, scaling.width),
        1,
        padding="same",
        use_bias=False,
        kernel_initializer=CONV_INIT,
        name="top_conv",
    )(x)
    x = layers.BatchNormalization(name="top_bn")(x)
    x = layers.Activation("swish", name="top_activation")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if scaling.dropout > 0:
        x = layers.Dropout(scaling.dropout, name="top_dropout")(x)
    probabilities = layers.Dense(num_classes, activation="softmax", kernel_initializer=DENSE_INIT, name="predictions")(
        x
    )
    model = keras.Model(pixels, probabilities, name=f"efficientnet{scaling.name}")
    set_input_statistics(model, IMAGENET_MEAN, [s * s for s in IMAGENET_STD])
    return model


def input_normalization(model: keras.Model) -> layers.Normalization:
    """The input Normalization layer (found by type: Keras numbers repeated layer names)."""
    return next(layer for layer in model.layers if isinstance(layer, layers.Normalization))


def set_input_statistics(model: keras.Model, mean, variance) -> None:
    """Set the per-channel mean and variance the model subtracts and divides by (after /255)."""
    norm = input_normalization(model)
    norm.adapt_mean.assign(mean)
    norm.adapt_variance.assign(variance)
    norm.finalize_state()  # Normalization reads a snapshot of its variables, refreshed here
