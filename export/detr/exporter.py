"""``python -m export detr``: the DETR options, flags and build for the export pipeline."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from export.errors import ExportError
from export.model_export import Exportable, ModelExport

if TYPE_CHECKING:
    from export.detr.models.detr import DETR, DETRConfig

BACKBONES = ("resnet50", "resnet101")
NUM_QUERIES = 100


@dataclass(frozen=True)
class DETRExport(ModelExport):
    """DETR with a ResNet-50/101 backbone (``dilation``: DC5), weights from an official ``checkpoint``
    (.pth) or a Keras ``weights`` file, served with DETR's evaluation resize and post-processing.

    ``config`` (Python only) replaces the official architecture chosen by ``backbone``/``dilation``.
    """

    command = "detr"

    backbone: str = "resnet50"
    dilation: bool = False
    checkpoint: str | None = None
    weights: str = "none"
    min_size: int = 800
    max_size: int = 1333
    score_threshold: float = 0.7
    max_detections: int = 100
    config: DETRConfig | None = None

    def __post_init__(self) -> None:
        if self.config is None and self.backbone not in BACKBONES:
            raise ExportError(f"unknown backbone {self.backbone!r}; choose one of {', '.join(BACKBONES)}")
        if self.checkpoint is not None and self.weights != "none":
            raise ExportError("give either --checkpoint or --weights, not both")
        num_queries = self.config.num_queries if self.config is not None else NUM_QUERIES
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ExportError(f"--score-threshold must be in [0, 1], got {self.score_threshold}")
        if not 1 <= self.max_detections <= num_queries:
            raise ExportError(f"--max-detections must be in [1, {num_queries}], got {self.max_detections}")
        if self.min_size < 32 or self.max_size < self.min_size:
            raise ExportError(f"need 32 <= --min-size <= --max-size, got {self.min_size} and {self.max_size}")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.description = ("DETR (ResNet-50/101 backbone, optional DC5). Weights: --checkpoint an official "
                              "facebookresearch/detr .pth (needs torch), --weights a Keras weights file, or "
                              "--weights none (random).")
        parser.add_argument("--checkpoint", default=None, help="official checkpoint, e.g. detr-r50-e632da11.pth")
        parser.add_argument("--backbone", default="resnet50", choices=list(BACKBONES))
        parser.add_argument("--dilation", action="store_true", help="DC5: dilate the last ResNet stage")
        parser.add_argument("--min-size", type=int, default=800, help="resize: shortest side (default 800)")
        parser.add_argument("--max-size", type=int, default=1333, help="resize: longest side cap (default 1333)")
        parser.add_argument("--score-threshold", type=float, default=0.7,
                            help="serving_default keeps detections scoring above this (default 0.7)")
        parser.add_argument("--max-detections", type=int, default=100,
                            help="detections returned per image, zero-padded (default 100)")

    def input_files(self) -> dict[str, Path]:
        files = {"checkpoint": Path(self.checkpoint)} if self.checkpoint is not None else {}
        if self.weights != "none":
            files["weights file"] = Path(self.weights)
        return files

    def build(self) -> Exportable:
        from export.detr.checkpoint import read_checkpoint
        from export.detr.models.detr import DETRConfig, build_detr

        config = self.config or DETRConfig.official(self.backbone, self.dilation)
        # Read (and check) the checkpoint before the slow build.
        state_dict = read_checkpoint(self.checkpoint) if self.checkpoint is not None else None
        model = build_detr(config)
        source = load_weights(model, self.weights, state_dict, self.checkpoint)
        return detr_exportable(model, weights_source=source, min_size=self.min_size, max_size=self.max_size,
                               score_threshold=self.score_threshold, max_detections=self.max_detections)


def load_weights(model: DETR, weights: str, state_dict: dict | None, checkpoint: str | None) -> str:
    """Apply an official state dict (from --checkpoint) or --weights (none | Keras weights file)."""
    from export.detr.checkpoint import load_state_dict
    from export.preflight import require_file
    from export.weights import load_keras_weights

    if state_dict is not None:
        load_state_dict(model, state_dict)
        return f"official-format checkpoint {Path(checkpoint).name}"
    if weights == "none":
        return "random initialisation"
    load_keras_weights(model, require_file(weights, "weights file"), "this DETR architecture")
    return f"keras weights {Path(weights).name}"


def detr_exportable(model: DETR, *, weights_source: str, min_size: int = 800, max_size: int = 1333,
                    score_threshold: float = 0.7, max_detections: int = 100) -> Exportable:
    """Endpoints, examples, export_info and the category-name asset of a built DETR."""
    import numpy as np

    from export.detr.coco_categories import categories_path, coco_category_names
    from export.detr.signatures import build_endpoints
    from export.images import example_jpeg

    config = model.detr_config
    names = coco_category_names()
    if config.num_classes != len(names):
        raise ExportError(f"model has {config.num_classes} classes but {len(names)} COCO names ship")
    images = np.array([example_jpeg(96, 128)], dtype=object)
    examples = {
        "serving_default": {"images": images},
        # Settings one per image: the form TF Serving's batcher merges (warmup records go through it too).
        "detect_with_threshold": {"images": images, "score_threshold": np.full(1, score_threshold, np.float32),
                                  "max_detections": np.full(1, max_detections, np.int32)},
        "raw": {"pixels": np.random.default_rng(0).normal(size=(1, 64, 96, 3)).astype(np.float32)},
    }
    info: dict[str, Any] = {
        "model": "detr",
        "variant": f"{config.backbone}{'-dc5' if config.dilation else ''}",
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "weights": weights_source,
        "input_size": {"min_size": min_size, "max_size": max_size},
        "score_threshold": score_threshold,
        "max_detections": max_detections,
        "preprocessing": (f"decode RGB, bilinear antialiased resize (short side {min_size}, long side <= "
                          f"{max_size}), /255, ImageNet mean/std, zero-pad to the batch's largest image + mask"),
        "classes": "COCO category ids 0-90 (assets/coco_categories.json), 91 = no object",
    }
    endpoints = build_endpoints(model, names, min_size, max_size, score_threshold, max_detections)
    return Exportable(model=model, endpoints=endpoints, examples=examples, info=info,
                      assets=[Path(str(categories_path()))], atol=1e-4)
