"""Kernel distance between image sets: unbiased MMD² with the cubic polynomial kernel (the KID formula).

Features are the images themselves (RGB in [−1, 1], average-pooled to at most 16×16), so the metric needs
no pretrained network; it measures how far generated pixel statistics are from held-out real ones.
"""

from __future__ import annotations

import numpy as np


def image_features(images: np.ndarray, size: int = 16) -> np.ndarray:
    """[N, H, W, C] floats in [−1, 1] → [N, D] features (box-averaged to ≤ size×size)."""
    images = np.asarray(images, np.float64)
    n, h, w, c = images.shape
    factor = max(1, h // size)
    pooled = (
        images[:, : h // factor * factor, : w // factor * factor]
        .reshape(n, h // factor, factor, w // factor, factor, c)
        .mean(axis=(2, 4))
    )
    return pooled.reshape(n, -1)


def kernel_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² between feature sets x [m, D] and y [n, D], k(a, b) = (a·b / D + 1)³."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    m, n = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2.0 * kxy.mean()
    )
