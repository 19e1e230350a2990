"""DETR for panoptic segmentation (the paper's section 4.4, the official DETRsegm): a DETR plus a mask
head that predicts one binary mask per object query.

The head reads what DETR computes anyway: the last decoder layer's query states, the encoder memory,
the projected layer4 features and the backbone's layer1-layer3 maps (the same backbone pass, asked for
its intermediate stages). The detector's weights are the `detr` sub-model, unchanged.
"""
from dataclasses import replace

import keras
from keras import ops

from export.detr.models.attention_map import MHAttentionMap
from export.detr.models.backbone import BLOCKS
from export.detr.models.detr import DETR, DETRConfig, FromDETRConfig
from export.detr.models.mask_head import MaskHeadSmallConv

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
        (layer1, layer2, layer3, layer4), mask = self.detr.extract_features(pixels, pixel_mask,
                                                                            return_intermediate=True)
        src, memory, states = self.detr.transform(layer4, mask, training=training)
        outputs = self.detr.prediction_heads(states)
        bbox_mask = self.bbox_attention(states[-1], memory, mask, training=training)
        masks = self.mask_head(src, bbox_mask, [layer3, layer2, layer1])
        shape = ops.shape(masks)
        outputs["pred_masks"] = ops.reshape(masks, (ops.shape(pixels)[0], -1, shape[1], shape[2]))
        return outputs


def build_detr_segm(config: DETRConfig | None = None) -> DETRsegm:
    """A DETRsegm with all weights created (randomly initialised); default: the official R50 panoptic."""
    return DETRsegm(config).build_for()
