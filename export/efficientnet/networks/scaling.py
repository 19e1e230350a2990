"""Compound scaling: how width, depth and resolution grow from the B0 baseline.

The paper scales depth by α^φ, width by β^φ and resolution by γ^φ (α=1.2, β=1.1, γ=1.15, so
α·β²·γ² ≈ 2 and FLOPs roughly double per step of φ). The released B0–B7 use hand-picked
coefficients: the presets table (``export/efficientnet/weights/presets.py``) holds them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from export.errors import ExportError

ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15
BASE_RESOLUTION = 224


@dataclass(frozen=True)
class Scaling:
    """Coefficients of one network: multipliers on B0's width and depth, input size, top dropout."""

    name: str
    width: float
    depth: float
    resolution: int
    dropout: float


def custom_scaling(phi: float, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA) -> Scaling:
    """Scaling from the compound coefficient φ: depth α^φ, width β^φ, resolution 224·γ^φ.

    The resolution is rounded to a multiple of 8; the top dropout grows linearly from B0's 0.2 at
    φ=0 to B7's 0.5 at φ=7 and stays in that range.
    """
    if phi < 0:
        raise ExportError(f"--phi must be >= 0, got {phi}")
    for flag, value in (("--alpha", alpha), ("--beta", beta), ("--gamma", gamma)):
        if value < 1:
            raise ExportError(f"{flag} must be >= 1 (a scaling base), got {value}")
    resolution = max(32, int(round(BASE_RESOLUTION * gamma**phi / 8)) * 8)
    dropout = min(0.5, 0.2 + 0.3 * phi / 7)
    return Scaling(f"phi{phi:g}", width=beta**phi, depth=alpha**phi, resolution=resolution, dropout=dropout)


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by ``width`` and round to a multiple of ``divisor`` (never down by >10%)."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    """Scale a stage's block count by ``depth``, rounding up."""
    return int(math.ceil(depth * repeats))
