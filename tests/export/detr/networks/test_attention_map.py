"""MHAttentionMap: the official attention map (joint softmax over heads and positions, padding masked)."""

import numpy as np
import torch

from export.detr.networks.attention_map import MHAttentionMap
from export.pipeline.tolerance import assert_same_computation
from tests.export.detr.torch_reference import AttentionMap


def _pair(d=32, heads=4, seed=0):
    torch.manual_seed(seed)
    reference = AttentionMap(d, heads)
    layer = MHAttentionMap(d, d, heads)
    layer(np.zeros((1, 2, d), np.float32), np.zeros((1, 2, 3, d), np.float32))
    for ours, theirs in ((layer.q_linear, reference.q_linear), (layer.k_linear, reference.k_linear)):
        ours.kernel.assign(theirs.weight.detach().numpy().T)
        ours.bias.assign(theirs.bias.detach().numpy())
    return reference, layer


def test_matches_the_reference_and_masks_padding():
    reference, layer = _pair()
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(2, 5, 32)).astype(np.float32)
    memory = rng.normal(size=(2, 4, 6, 32)).astype(np.float32)
    mask = np.zeros((2, 4, 6), bool)
    mask[1, 3:, :] = mask[1, :, 4:] = True
    got = np.asarray(layer(queries, memory, mask))
    with torch.no_grad():
        expected = (
            reference(torch.from_numpy(queries), torch.from_numpy(memory).permute(0, 3, 1, 2), torch.from_numpy(mask))
            .permute(0, 1, 3, 4, 2)
            .numpy()
        )
    assert got.shape == (2, 5, 4, 6, 4)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # One distribution per query over heads x positions; nothing on padding.
    np.testing.assert_allclose(got.sum(axis=(2, 3, 4)), 1.0, atol=1e-5)
    assert not got[1, :, 3:, :].any() and not got[1, :, :, 4:].any()
    # Padding content does not matter.
    junk = memory.copy()
    junk[1, 3:, :] = junk[1, :, 4:] = 100.0
    assert_same_computation(np.asarray(layer(queries, junk, mask)), got)


def test_config_round_trip():
    _, layer = _pair(16, 2)
    clone = MHAttentionMap.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert (clone.query_dim, clone.hidden_dim, clone.num_heads, clone.dropout_rate) == (16, 16, 2, 0.0)
