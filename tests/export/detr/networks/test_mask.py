"""Padding is invisible to DETR when the mask says where it is."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from export.detr.networks.backbone import downsample_mask
from export.detr.networks.detr import build_detr
from export.detr.networks.position_encoding import PositionEmbeddingSine
from export.detr.postprocess import postprocess
from export.pipeline.tolerance import assert_same_computation
from tests.export.detr.conftest import padded_batch
from tests.export.detr.torch_reference import sine_position
from tests.fixtures.detr import tiny_detr_config

TINY = tiny_detr_config(num_encoder_layers=2, num_queries=12, dropout=0.1)


@pytest.mark.parametrize(
    "size, out",
    [((37, 53), (2, 2)), ((100, 130), (4, 5)), ((64, 96), (7, 3)), ((33, 33), (33, 33)), ((5, 9), (11, 13))],
)
def test_mask_downsampling_matches_torch_nearest(size, out):
    mask = np.random.default_rng(sum(size)).random((2, *size)) > 0.5
    expected = F.interpolate(torch.from_numpy(mask)[None].float(), size=out).to(torch.bool)[0].numpy()
    np.testing.assert_array_equal(downsample_mask(mask, *out), expected)


def test_sine_embedding_matches_reference_and_ignores_padding():
    _, mask = padded_batch(np.random.default_rng(0), [(7, 9), (4, 6)])
    pos = PositionEmbeddingSine(16)(mask).numpy()
    expected = sine_position(torch.from_numpy(mask), 16).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(pos, expected, atol=1e-5)
    alone = PositionEmbeddingSine(16)(np.zeros((1, 4, 6), bool)).numpy()
    assert_same_computation(pos[1, :4, :6], alone[0])


def test_transformer_ignores_whatever_is_in_padded_positions():
    model = build_detr(TINY)
    rng = np.random.default_rng(1)
    features = rng.normal(size=(1, 3, 4, TINY.hidden_dim)).astype(np.float32)
    padded = rng.normal(size=(1, 5, 7, TINY.hidden_dim)).astype(np.float32) * 10  # junk in the padding
    padded[:, :3, :4] = features
    mask = np.ones((1, 5, 7), bool)
    mask[:, :3, :4] = False
    pe = model.position_embedding
    alone = model.transformer(
        features, np.zeros((1, 3, 4), bool), model.query_embed, pe(np.zeros((1, 3, 4), bool)), training=False
    )
    with_padding = model.transformer(padded, mask, model.query_embed, pe(mask), training=False)
    assert_same_computation(with_padding, alone)


def test_padded_features_give_the_same_detections_as_unpadded():
    """Backbone features of an image, then the same features inside a larger padded map (junk in the
    padding): DETR's detections are equal. The CNN itself is not padding-invariant (stride-2 receptive
    fields at the bottom/right border see the zero padding; the official model behaves the same, see
    test_fidelity's padded batch), so the mask's job starts after the backbone and is tested there."""
    model = build_detr(TINY)
    images, _ = padded_batch(np.random.default_rng(2), [(64, 96)], channels_last=True)
    features = model.backbone(images).numpy()
    h, w = features.shape[1:3]
    padded = np.random.default_rng(3).normal(size=(2, h + 2, w + 3, features.shape[-1])).astype(np.float32)
    padded[0, :h, :w] = features[0]
    mask = np.zeros((2, h + 2, w + 3), bool)
    mask[0, h:, :] = mask[0, :, w:] = True
    alone = model.detect(features, np.zeros((1, h, w), bool), training=False)
    together = model.detect(padded, mask, training=False)
    assert_same_computation(together["pred_logits"][0], alone["pred_logits"][0])
    assert_same_computation(together["pred_boxes"][0], alone["pred_boxes"][0])
    names = np.array([str(i) for i in range(TINY.num_classes)])
    sizes = np.array([[64, 96]])
    a = postprocess(alone["pred_logits"], alone["pred_boxes"], sizes, 0.0, 5, names)
    b = postprocess(together["pred_logits"][:1], together["pred_boxes"][:1], sizes, 0.0, 5, names)
    assert_same_computation(b["boxes"], a["boxes"])  # pixels: the tolerance scales with them
    assert_same_computation(b["scores"], a["scores"])
    assert b["labels"].numpy().tolist() == a["labels"].numpy().tolist()
