"""How far two runs of one float32 computation may differ: stated once, used by the verify stage and the tests.

An export is checked by running the same graph twice: traced in-process, then reloaded from the
SavedModel. Same weights, same kernels, yet the floats can differ: oneDNN splits every matrix
product, convolution and reduction over threads and cache blocks, and how it splits depends on the
thread count at that moment, so the terms of each sum are added in another order and rounded
differently. (A test once failed on 1.02e-5 against a fixed ``atol=1e-5``: an EfficientNet
probability, one of 3,000.)

The bound. float32 keeps 24 significant bits (unit round-off 2^-24). A sum of n terms added in
another order differs, in the typical case, by about √n round-offs of the sum of the magnitudes
(Higham & Mary, "A new approach to probabilistic rounding error analysis", 2019): for the largest
reductions in these models (a 3×3 convolution over 512 channels, 4,608 terms; DETR's 2,048-wide
feed-forward layers) that is 2^6 round-offs. Cancellation (a result smaller than its terms) and
the layers that carry a difference forward cost a few bits more. Allowing 11 of the 24 bits to
differ leaves 13: two runs agree to ``REORDERING_RTOL`` = 2^-13 ≈ 1.2e-4 of the output's scale.

The scale is the larger of the output's largest magnitude and 1: activations inside these networks
are normalised to about 1, and an output near zero (a probability of 0.001, a padded box) is still
computed from terms of that size, so its difference is too.
"""

from __future__ import annotations

import numpy as np

FLOAT32_UNIT_ROUNDOFF = 2.0**-24
BITS_ALLOWED_TO_DIFFER = 11
REORDERING_RTOL = FLOAT32_UNIT_ROUNDOFF * 2.0**BITS_ALLOWED_TO_DIFFER  # 2^-13 ≈ 1.22e-4


def float_tolerance(expected: np.ndarray) -> float:
    """The largest absolute difference allowed between ``expected`` and a rerun of the computation behind it."""
    scale = float(np.max(np.abs(np.asarray(expected, dtype=np.float64)), initial=0.0))
    return REORDERING_RTOL * max(scale, 1.0)


def assert_same_computation(actual: np.ndarray, expected: np.ndarray, err_msg: str = "") -> None:
    """``np.testing.assert_allclose`` with the reordering tolerance: for two runs of one graph (in-process
    and reloaded, Keras and SavedModel, one batch and its items)."""
    expected = np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=float_tolerance(expected), err_msg=err_msg)
