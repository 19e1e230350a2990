"""Shared pieces of the DETR tests: a reference model and its official-format state dict."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from export.detr.networks.detr import DETRConfig, build_detr
from export.detr.networks.segmentation import build_detr_segm, panoptic_config
from export.detr.weights.convert import load_state_dict, read_checkpoint
from tests.export.detr.torch_reference import ReferenceDETR, ReferenceDETRsegm, randomize_buffers


def reference_kwargs(config: DETRConfig) -> dict:
    """The torch reference's constructor arguments for a DETRConfig."""
    return {
        "blocks": config.blocks,
        "width": config.backbone_width,
        "dilation": config.dilation,
        "d": config.hidden_dim,
        "heads": config.num_heads,
        "enc": config.num_encoder_layers,
        "dec": config.num_decoder_layers,
        "ff": config.dim_feedforward,
        "num_queries": config.num_queries,
        "num_classes": config.num_classes,
    }


def reference_and_keras(config: DETRConfig, seed: int = 0, panoptic: bool = False):
    """A torch reference (DETR, or DETRsegm if panoptic) with random weights and the Keras model holding
    the same weights."""
    torch.manual_seed(seed)
    reference = (ReferenceDETRsegm if panoptic else ReferenceDETR)(**reference_kwargs(config)).eval()
    randomize_buffers(reference, seed)
    model = (build_detr_segm if panoptic else build_detr)(config)
    load_state_dict(model, state_dict_of(reference))
    return reference, model


def state_dict_of(reference) -> dict[str, np.ndarray]:
    return {key: value.numpy() for key, value in reference.state_dict().items()}


@pytest.fixture(scope="session")
def r50_pair(detr_checkpoint):
    """The official DETR-R50 architecture in torch and in Keras, both loaded from the session's
    random official-format checkpoint (the one `detr_export` was exported from)."""
    reference = ReferenceDETR().eval()
    reference.load_state_dict(torch.load(detr_checkpoint, weights_only=True)["model"])
    model = build_detr(DETRConfig.official("resnet50"))
    load_state_dict(model, read_checkpoint(detr_checkpoint))
    return reference, model


@pytest.fixture(scope="session")
def r50_panoptic_pair(detr_panoptic_checkpoint):
    """The official detr-r50-panoptic architecture in torch and in Keras, both loaded from the session's
    random official-format panoptic checkpoint."""
    reference = ReferenceDETRsegm().eval()
    reference.load_state_dict(torch.load(detr_panoptic_checkpoint, weights_only=True)["model"])
    model = build_detr_segm(panoptic_config("resnet50"))
    load_state_dict(model, read_checkpoint(detr_panoptic_checkpoint))
    return reference, model


def padded_batch(rng: np.random.Generator, sizes, channels_last: bool = False):
    """Random normalised images of the given (h, w) sizes, zero-padded to the largest, and the mask."""
    height, width = max(h for h, _ in sizes), max(w for _, w in sizes)
    images = np.zeros((len(sizes), height, width, 3), np.float32)
    mask = np.ones((len(sizes), height, width), bool)
    for i, (h, w) in enumerate(sizes):
        images[i, :h, :w] = rng.normal(size=(h, w, 3))
        mask[i, :h, :w] = False
    return (images if channels_last else np.transpose(images, (0, 3, 1, 2))), mask
