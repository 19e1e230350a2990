"""The export_info entries DETR's detection and panoptic exports share."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from export.detr.networks.detr import DETRConfig


def common_info(
    config: DETRConfig,
    weights_source: str,
    min_size: int,
    max_size: int,
    score_threshold: float,
    panoptic: bool = False,
) -> dict[str, Any]:
    """The export_info entries the detector and the panoptic export share."""
    return {
        "model": "detr-panoptic" if panoptic else "detr",
        "variant": f"{config.backbone}{'-dc5' if config.dilation else ''}{'-panoptic' if panoptic else ''}",
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "weights": weights_source,
        "input_size": {"min_size": min_size, "max_size": max_size},
        "score_threshold": score_threshold,
        "preprocessing": (
            f"decode RGB, bilinear antialiased resize (short side {min_size}, long side <= "
            f"{max_size}), /255, ImageNet mean/std, zero-pad to the batch's largest image + mask"
        ),
    }
