"""DETR for panoptic segmentation (the paper's section 4.4, the official DETRsegm): a DETR plus a mask
head that predicts one binary mask per object query.

The head reads what DETR computes anyway: the last decoder layer's query states, the encoder memory,
the projected layer4 features and the backbone's layer1-layer3 maps (the same backbone pass, asked for
its intermediate stages). The detector's weights are the `detr` sub-model, unchanged.
"""

from dataclasses import replace
from typing import Any, NamedTuple

import keras
from keras import ops

from export.detr.networks.attention_map import MHAttentionMap
from export.detr.networks.backbone import BLOCKS
from export.detr.networks.detr import DETR, DETRConfig, FromDETRConfig
from export.detr.networks.mask_head import MaskHeadSmallConv

NUM_COCO_PANOPTIC_CLASSES = 250  # the official panoptic models' num_classes (ids up to 200 are used)


def panoptic_config(backbone: str = "resnet50", dilation: bool = False, **overrides) -> DETRConfig:
    """The official detr-r50/r101(-dc5)-panoptic architecture: DETR with 250 classes."""
    if backbone not in BLOCKS:
        raise ValueError(f"unknown backbone {backbone!r}; expected one of {sorted(BLOCKS)}")
    return replace(DETRConfig.official(backbone, dilation), **{"num_classes": NUM_COCO_PANOPTIC_CLASSES, **overrides})


@keras.saving.register_keras_serializable(package="detr")
class DETRsegm(FromDETRConfig, keras.Model):
    """pixels [N, H, W, 3] (ImageNet-normalised), pixel_mask [N, H, W] (True on padding) -> DETR's
    outputs plus "pred_masks" [N, Q, H/4, W/4]: mask logits of every query at layer1's resolution.
    """

    def __init__(self, config: DETRConfig | dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.detr_config = config = self.parse_config(config or panoptic_config())
        self.detr = DETR(config)
        d, heads = config.hidden_dim, config.num_heads
        self.bbox_attention = MHAttentionMap(d, d, heads, dropout=0.0)
        layer1, layer2, layer3, _ = self.detr.backbone.stage_channels
        self.mask_head = MaskHeadSmallConv(d + heads, [layer3, layer2, layer1], d)

    def build(self, input_shape=None):
        # The detector is used through its methods, never called as a whole: build it explicitly.
        self.detr.build_for()
        self.built = True

    def call(self, pixels, pixel_mask=None, training=None):
        outputs, context = self.detect_with_context(pixels, pixel_mask, training=training)
        outputs["pred_masks"] = self.predict_masks(context, context.queries, training=training)
        return outputs

    def detect_with_context(self, pixels, pixel_mask=None, training=None):
        """The detector's outputs and the `MaskContext` the mask head reads (one backbone pass)."""
        (layer1, layer2, layer3, layer4), mask = self.detr.extract_features(
            pixels, pixel_mask, return_intermediate=True
        )
        src, memory, states = self.detr.transform(layer4, mask, training=training)
        return self.detr.prediction_heads(states), MaskContext(states[-1], memory, mask, src, (layer3, layer2, layer1))

    def predict_masks(self, context: "MaskContext", queries, training=None):
        """Mask logits [N, K, H/4, W/4] of any K query states [N, K, d] of the context's N images.

        A query's mask depends on its own state only (attention softmax per query, the conv head and its
        group norm per query), so the masks of a subset of the queries equal those rows of the full
        `pred_masks`: a serving graph runs the head on the queries it keeps.
        """
        count = ops.shape(queries)[1]
        if isinstance(count, int) and count == 0:  # TensorFlow's eager conv kernels refuse an empty batch
            layer1 = ops.shape(context.fpns[-1])
            return ops.zeros((ops.shape(queries)[0], 0, layer1[1], layer1[2]))
        bbox_mask = self.bbox_attention(queries, context.memory, context.mask, training=training)
        masks = self.mask_head(context.src, bbox_mask, list(context.fpns))
        shape = ops.shape(masks)
        return ops.reshape(masks, (ops.shape(queries)[0], count, shape[1], shape[2]))


class MaskContext(NamedTuple):
    """What the mask head reads besides the query states: per image, the last decoder layer's states
    `queries` [N, Q, d], the encoder `memory` [N, h, w, d] and its padding `mask` [N, h, w], the projected
    layer4 features `src` [N, h, w, d] and the FPN features (layer3, layer2, layer1)."""

    queries: Any
    memory: Any
    mask: Any
    src: Any
    fpns: tuple

    def image(self, index) -> "MaskContext":
        """The context of image `index` alone (a batch of one)."""
        return MaskContext(*(t[index : index + 1] for t in self[:4]), tuple(f[index : index + 1] for f in self.fpns))


def build_detr_segm(config: DETRConfig | None = None) -> DETRsegm:
    """A DETRsegm with all weights created (randomly initialised); default: the official R50 panoptic."""
    return DETRsegm(config).build_for()
