"""The DETR model: backbone + input projection + sine positions + transformer + per-layer heads."""

from dataclasses import asdict, dataclass, field

import keras
from keras import ops

from export.detr.networks.backbone import BLOCKS, ResNetBody, downsample_mask
from export.detr.networks.position_encoding import PositionEmbeddingSine
from export.detr.networks.transformer import Transformer

NUM_COCO_CLASSES = 91  # max COCO category id + 1; logits have one more column for "no object"


@dataclass(frozen=True)
class DETRConfig:
    """Architecture hyper-parameters; the defaults are the official DETR-R50."""

    backbone: str = "resnet50"
    dilation: bool = False
    blocks: tuple[int, ...] = field(default=BLOCKS["resnet50"])
    backbone_width: int = 64
    hidden_dim: int = 256
    num_heads: int = 8
    num_encoder_layers: int = 6
    num_decoder_layers: int = 6
    dim_feedforward: int = 2048
    dropout: float = 0.1
    num_queries: int = 100
    num_classes: int = NUM_COCO_CLASSES

    @classmethod
    def official(cls, backbone: str = "resnet50", dilation: bool = False) -> "DETRConfig":
        if backbone not in BLOCKS:
            raise ValueError(f"unknown backbone {backbone!r}; expected one of {sorted(BLOCKS)}")
        return cls(backbone=backbone, dilation=dilation, blocks=BLOCKS[backbone])


@keras.saving.register_keras_serializable(package="detr")
class MLP(keras.layers.Layer):
    """Dense layers with ReLU between them (DETR's box head: 256-256-4 with num_layers=3)."""

    def __init__(self, hidden_dim: int, output_dim: int, num_layers: int, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim, self.output_dim, self.num_layers = hidden_dim, output_dim, num_layers
        self.dense_layers = [
            keras.layers.Dense(hidden_dim if i < num_layers - 1 else output_dim) for i in range(num_layers)
        ]

    def call(self, x):
        for i, layer in enumerate(self.dense_layers):
            x = layer(x)
            if i < self.num_layers - 1:
                x = ops.relu(x)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_dim": self.hidden_dim,
            "output_dim": self.output_dim,
            "num_layers": self.num_layers,
        }


class FromDETRConfig:
    """What the models built from one DETRConfig share: the config round trip and a build pass."""

    @staticmethod
    def parse_config(config: DETRConfig | dict) -> DETRConfig:
        return DETRConfig(**{**config, "blocks": tuple(config["blocks"])}) if isinstance(config, dict) else config

    def build_for(self, height: int = 64, width: int = 64):
        """Create every weight by running one small forward pass."""
        self(ops.zeros((1, height, width, 3)), ops.zeros((1, height, width), dtype="bool"))
        return self

    def get_config(self):
        config = asdict(self.detr_config)
        config["blocks"] = list(config["blocks"])
        return {"config": config}

    @classmethod
    def from_config(cls, config):
        return cls(config["config"])


@keras.saving.register_keras_serializable(package="detr")
class DETR(FromDETRConfig, keras.Model):
    """pixels [N, H, W, 3] (ImageNet-normalised), pixel_mask [N, H, W] (True on padding) ->
    {"pred_logits": [N, Q, C+1], "pred_boxes": [N, Q, 4] (cx, cy, w, h in [0, 1] of the unpadded image),
    "aux_logits": [L-1, N, Q, C+1], "aux_boxes": [L-1, N, Q, 4]} (earlier decoder layers, for aux losses).
    """

    def __init__(self, config: DETRConfig | dict = DETRConfig(), **kwargs):
        super().__init__(**kwargs)
        self.detr_config = c = self.parse_config(config)
        self.backbone = ResNetBody(c.blocks, c.backbone_width, c.dilation)
        self.input_proj = keras.layers.Conv2D(c.hidden_dim, 1)
        self.position_embedding = PositionEmbeddingSine(c.hidden_dim // 2)
        self.transformer = Transformer(
            c.hidden_dim, c.num_heads, c.num_encoder_layers, c.num_decoder_layers, c.dim_feedforward, c.dropout
        )
        self.query_embed = self.add_weight(
            name="query_embed",
            shape=(c.num_queries, c.hidden_dim),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
        )
        self.class_embed = keras.layers.Dense(c.num_classes + 1)
        self.bbox_embed = MLP(c.hidden_dim, 4, 3)

    def call(self, pixels, pixel_mask=None, training=None):
        features, mask = self.extract_features(pixels, pixel_mask)
        return self.detect(features, mask, training=training)

    def extract_features(self, pixels, pixel_mask=None, return_intermediate: bool = False):
        """Backbone features (layer4, or [layer1..layer4] with return_intermediate) and the padding
        mask [N, h, w] at layer4's resolution (an all-False mask when pixel_mask is None)."""
        if pixel_mask is None:
            pixel_mask = ops.zeros(ops.shape(pixels)[:3], dtype="bool")
        features = self.backbone(pixels, return_intermediate=return_intermediate)
        last = features[-1] if return_intermediate else features
        return features, downsample_mask(pixel_mask, ops.shape(last)[1], ops.shape(last)[2])

    def detect(self, features, mask, training=None):
        """Everything after the backbone: features [N, h, w, C] and their mask [N, h, w] -> outputs."""
        _, _, states = self.transform(features, mask, training=training)
        return self.prediction_heads(states)

    def transform(self, features, mask, training=None):
        """layer4 features and mask -> (input_proj(features) [N, h, w, d], encoder memory [N, h, w, d],
        decoder states of every layer [L, N, Q, d])."""
        src = self.input_proj(features)
        pos = self.position_embedding(mask)
        states, memory = self.transformer(src, mask, self.query_embed, pos, training=training, return_memory=True)
        return src, ops.reshape(memory, ops.shape(src)), states

    def prediction_heads(self, states):
        """Class and box heads on every decoder layer's states: the last layer's and the auxiliary ones."""
        logits = self.class_embed(states)
        boxes = ops.sigmoid(self.bbox_embed(states))
        return {"pred_logits": logits[-1], "pred_boxes": boxes[-1], "aux_logits": logits[:-1], "aux_boxes": boxes[:-1]}


def build_detr(config: DETRConfig = DETRConfig()) -> DETR:
    """A DETR with all weights created (randomly initialised)."""
    return DETR(config).build_for()
