"""The Keras port computes what the official PyTorch DETR computes, given the same weights."""

import numpy as np
import torch

from export.detr.networks.backbone import BLOCKS, ResNetBody
from export.detr.weights.convert import official_shapes
from tests.export.detr.conftest import padded_batch, reference_and_keras
from tests.export.detr.torch_reference import ReferenceDETR
from tests.fixtures.detr import tiny_detr_config

# Two blocks in layers 3 and 4 (a dilated block after the first), three decoder layers (two auxiliary outputs).
DC5_TINY = tiny_detr_config(
    dilation=True, blocks=(1, 1, 2, 2), num_encoder_layers=2, num_decoder_layers=3, num_queries=10
)


def _compare(reference, model, sizes, seed=0, atol=1e-4):
    images, mask = padded_batch(np.random.default_rng(seed), sizes)
    with torch.no_grad():
        expected = reference(torch.from_numpy(images), torch.from_numpy(mask))
    got = model(np.transpose(images, (0, 2, 3, 1)), mask)
    np.testing.assert_allclose(got["pred_logits"], expected["pred_logits"].numpy(), atol=atol, rtol=0)
    np.testing.assert_allclose(got["pred_boxes"], expected["pred_boxes"].numpy(), atol=atol, rtol=0)
    np.testing.assert_allclose(got["aux_logits"], expected["all_logits"].numpy()[:-1], atol=atol, rtol=0)
    np.testing.assert_allclose(got["aux_boxes"], expected["all_boxes"].numpy()[:-1], atol=atol, rtol=0)


def test_r50_matches_reference_on_a_padded_batch(r50_pair):
    reference, model = r50_pair
    _compare(reference, model, [(100, 130), (70, 90)])


def test_dc5_dilated_backbone_matches_reference():
    reference, model = reference_and_keras(DC5_TINY, seed=1)
    _compare(reference, model, [(75, 61), (64, 96)], seed=1)


def test_r50_parameter_count_equals_the_official_state_dict(r50_pair):
    """41,631,008 numbers in 458 tensors: 41,524,768 nn.Parameters + 106,240 frozen-BN buffer values."""
    reference, model = r50_pair
    state = reference.state_dict()
    assert model.count_params() == sum(v.numel() for v in state.values()) == 41_631_008
    assert sum(p.numel() for p in reference.parameters()) == 41_524_768
    assert official_shapes(model) == {k: tuple(v.shape) for k, v in state.items()}


def test_r101_backbone_has_the_official_keys_and_shapes():
    """R101 differs from R50 only in layer3 (23 blocks); its transformer and heads are R50's."""
    reference = ReferenceDETR(blocks=(3, 4, 23, 3))
    body = ResNetBody(BLOCKS["resnet101"])
    body(np.zeros((1, 32, 32, 3), np.float32))
    expected = {k: tuple(v.shape) for k, v in reference.state_dict().items() if k.startswith("backbone.")}
    got = {key: shape for key, shape in _backbone_shapes(body)}
    assert got == expected
    # 42,605,504 backbone + 18,069,856 input_proj/transformer/heads (as R50) = 60,675,360 (docs/detr.md)
    assert sum(int(np.prod(s)) for s in got.values()) == 42_605_504
    assert sum(v.numel() for v in reference.state_dict().values()) == 60_675_360


def _backbone_shapes(body):
    from export.detr.weights.convert import _TO_TORCH_SHAPE, _backbone

    for key, variable, layout in _backbone("backbone.0.body", body):
        yield key, _TO_TORCH_SHAPE[layout](tuple(variable.shape))
