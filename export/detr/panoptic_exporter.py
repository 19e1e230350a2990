"""The panoptic export's part of `python -m export detr --panoptic`: endpoints, examples, export_info and
assets of a built DETRsegm (the options and the build are `DETRExport`'s)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from export.detr.export_info import common_info
from export.pipeline.model_export import Exportable
from export.signatures.image_options import DEFAULT_MAX_IMAGE_PIXELS

if TYPE_CHECKING:
    from export.detr.networks.segmentation import DETRsegm


def panoptic_exportable(
    model: DETRsegm,
    *,
    weights_source: str,
    min_size: int = 800,
    max_size: int = 1333,
    score_threshold: float = 0.85,
    categories: str | None = None,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> Exportable:
    """Endpoints, examples, export_info and the category-table asset of a built DETRsegm."""
    import numpy as np

    from export.detr.coco_categories import (
        UNUSED,
        panoptic_categories_path,
        panoptic_classes,
    )
    from export.detr.panoptic_signatures import build_panoptic_endpoints
    from export.signatures.images import example_jpeg

    config = model.detr_config
    names, is_thing = panoptic_classes(config.num_classes, categories)
    named = [thing for name, thing in zip(names, is_thing) if name != UNUSED]
    table = Path(categories) if categories is not None else Path(str(panoptic_categories_path()))
    images = np.array([example_jpeg(96, 128), example_jpeg(64, 80)], dtype=object)
    examples = {
        "serving_default": {"images": images},
        "raw": {"pixels": np.random.default_rng(0).normal(size=(1, 64, 96, 3)).astype(np.float32)},
    }
    info: dict[str, Any] = {
        **common_info(config, weights_source, min_size, max_size, score_threshold, panoptic=True),
        "max_image_pixels": max_image_pixels,
        "classes": (
            f"category ids 0-{config.num_classes - 1} named by assets/{table.name} "
            f"({len(named)} categories, {sum(named)} of them things), "
            f"{config.num_classes} = no object"
        ),
        "postprocessing": (
            "official PostProcessPanoptic per image: queries scoring above score_threshold, "
            "the mask head run on those only, per-pixel argmax, stuff of one class merged, "
            "segments of <= 4 pixels dropped; ids 0..num_segments-1 in panoptic_png as "
            "R + 256 G + 256^2 B at the original size"
        ),
    }
    endpoints = build_panoptic_endpoints(model, names, is_thing, min_size, max_size, score_threshold, max_image_pixels)
    return Exportable(model=model, endpoints=endpoints, examples=examples, info=info, assets=[table])
