"""MaskHeadSmallConv: the official FPN-style conv head (GroupNorm, adapters, nearest upsampling)."""

import numpy as np
import pytest
import torch

from export.detr.networks.mask_head import MaskHeadSmallConv
from tests.export.detr.torch_reference import MaskHead, randomize_buffers

D, HEADS, FPN = 128, 8, (64, 32, 16)


def _pair(seed=0):
    torch.manual_seed(seed)
    reference = MaskHead(D + HEADS, FPN, D).eval()
    randomize_buffers(reference, seed)
    head = MaskHeadSmallConv(D + HEADS, FPN, D)
    head(
        np.zeros((1, 2, 2, D), np.float32),
        np.zeros((1, 1, 2, 2, HEADS), np.float32),
        [np.zeros((1, 4, 4, c), np.float32) for c in FPN],
    )
    state = reference.state_dict()
    for name in [f"lay{i}" for i in range(1, 6)] + ["out_lay", "adapter1", "adapter2", "adapter3"]:
        layer = getattr(head, name)
        layer.kernel.assign(np.transpose(state[f"{name}.weight"].numpy(), (2, 3, 1, 0)))
        layer.bias.assign(state[f"{name}.bias"].numpy())
    for i in range(1, 6):
        getattr(head, f"gn{i}").gamma.assign(state[f"gn{i}.weight"].numpy())
        getattr(head, f"gn{i}").beta.assign(state[f"gn{i}.bias"].numpy())
    return reference, head


def test_matches_the_reference_on_odd_fpn_sizes():
    """layer4 3x4 -> layer3 5x7 -> layer2 9x13 -> layer1 17x25: upsampling is not a plain 2x."""
    reference, head = _pair()
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2, 3, 4, D)).astype(np.float32)
    attention = rng.random((2, 3, 3, 4, HEADS)).astype(np.float32)
    fpns = [rng.normal(size=(2, h, w, c)).astype(np.float32) for (h, w), c in zip([(5, 7), (9, 13), (17, 25)], FPN)]
    got = np.asarray(head(features, attention, fpns))
    nchw = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2)  # noqa: E731
    with torch.no_grad():
        expected = (
            reference(nchw(features), torch.from_numpy(attention).permute(0, 1, 4, 2, 3), [nchw(f) for f in fpns])
            .permute(0, 2, 3, 1)
            .numpy()
        )
    assert got.shape == (6, 17, 25, 1)
    np.testing.assert_allclose(got, expected, atol=1e-4 * np.abs(expected).max())


def test_config_round_trip_and_widths_that_group_norm_cannot_split():
    head = MaskHeadSmallConv(136, [64, 32, 16], 128)
    clone = MaskHeadSmallConv.from_config(head.get_config())
    assert clone.get_config() == head.get_config() and clone.fpn_dims == (64, 32, 16)
    with pytest.raises(ValueError, match="multiples of 8"):
        MaskHeadSmallConv(36, [64, 32, 16], 32)  # hidden_dim 32: 32 // 16 = 2 channels for 8 groups
