"""Nearest-neighbour resizing equals PyTorch's F.interpolate(mode="nearest"), up and down."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from export.detr.networks.interpolate import resize_nearest


@pytest.mark.parametrize(
    "size, out",
    [
        ((2, 3), (4, 6)),
        ((4, 5), (7, 9)),
        ((7, 9), (13, 17)),
        ((25, 33), (50, 66)),
        ((9, 7), (9, 7)),
        ((13, 17), (7, 9)),
        ((3, 3), (10, 11)),
    ],
)
def test_feature_maps_resize_as_torch_nearest(size, out):
    x = np.random.default_rng(sum(size)).normal(size=(2, *size, 3)).astype(np.float32)
    expected = F.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), size=out, mode="nearest").permute(0, 2, 3, 1)
    np.testing.assert_array_equal(resize_nearest(x, *out), expected.numpy())
