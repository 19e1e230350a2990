"""``python -m export detr``: the DETR options, flags and build for the export pipeline."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from export.detr.export_info import common_info
from export.detr.weights.presets import COCO, COCO_PANOPTIC, PRESETS, architecture
from export.errors import ExportError
from export.pipeline.model_export import Exportable, ModelExport
from export.signatures.image_options import (
    DEFAULT_MAX_IMAGE_PIXELS,
    add_max_image_pixels_argument,
    check_max_image_pixels,
)
from export.weights.presets import NONE, choose_preset

if TYPE_CHECKING:
    from export.detr.networks.detr import DETR, DETRConfig
    from export.detr.networks.segmentation import DETRsegm
    from export.weights.presets import Preset

BACKBONES = ("resnet50", "resnet101")
NUM_QUERIES = 100
DETECTION_THRESHOLD = 0.7  # hubconf's detection demo
PANOPTIC_THRESHOLD = 0.85  # hubconf's PostProcessPanoptic


@dataclass(frozen=True)
class DETRExport(ModelExport):
    """DETR with a ResNet-50/101 backbone (``dilation``: DC5), served with DETR's evaluation resize and
    post-processing. Weights: ``weights`` ``coco`` / ``coco-panoptic`` (facebookresearch/detr's published
    checkpoints, fetched into the cache), an official ``.pth`` or a Keras weights file, or an official
    ``checkpoint`` (.pth).

    ``panoptic``: the panoptic model (DETRsegm: 250 classes and the mask head), served as COCO panoptic
    PNG segment maps; its classes are named from ``categories`` (a category table file) or the COCO
    panoptic table. ``score_threshold`` defaults to the official 0.7 (detection) or 0.85 (panoptic).
    ``config`` (Python only) replaces the official architecture chosen by ``backbone``/``dilation``.
    """

    command = "detr"

    backbone: str = "resnet50"
    dilation: bool = False
    checkpoint: str | None = None
    weights: str = NONE
    min_size: int = 800
    max_size: int = 1333
    score_threshold: float | None = None
    max_detections: int | None = None
    panoptic: bool = False
    categories: str | None = None
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    config: DETRConfig | None = None

    def __post_init__(self) -> None:
        check_max_image_pixels(self.max_image_pixels)
        if self.config is None and self.backbone not in BACKBONES:
            raise ExportError(f"unknown backbone {self.backbone!r}; choose one of {', '.join(BACKBONES)}")
        if self.checkpoint is not None and self.weights != NONE:
            raise ExportError("give either --checkpoint or --weights, not both")
        self.weights_preset()  # an unknown weights name, or one of the other kind, fails now
        if self.panoptic and self.max_detections is not None:
            raise ExportError("--max-detections is for detection; the panoptic export returns every segment")
        if not self.panoptic and self.categories is not None:
            raise ExportError("--categories names the classes of a panoptic export (add --panoptic)")
        defaults = {
            "score_threshold": PANOPTIC_THRESHOLD if self.panoptic else DETECTION_THRESHOLD,
            "max_detections": None if self.panoptic else NUM_QUERIES,
        }
        for key, value in defaults.items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)  # frozen: resolve the mode's default once
        num_queries = self.config.num_queries if self.config is not None else NUM_QUERIES
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ExportError(f"--score-threshold must be in [0, 1], got {self.score_threshold}")
        if not self.panoptic and not 1 <= self.max_detections <= num_queries:
            raise ExportError(f"--max-detections must be in [1, {num_queries}], got {self.max_detections}")
        if self.min_size < 32 or self.max_size < self.min_size:
            raise ExportError(f"need 32 <= --min-size <= --max-size, got {self.min_size} and {self.max_size}")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "DETR (ResNet-50/101 backbone, optional DC5). Weights: --weights coco (with --panoptic: "
            "coco-panoptic), facebookresearch/detr's published checkpoint for the chosen backbone, "
            "fetched into the cache (python -m export weights list); --weights PATH, an official .pth "
            "(needs torch) or a Keras weights file; --checkpoint PATH, an official .pth; or --weights "
            "none (random, the default)."
        )
        parser.add_argument("--checkpoint", default=None, help="official checkpoint, e.g. detr-r50-e632da11.pth")
        parser.add_argument("--backbone", default="resnet50", choices=list(BACKBONES))
        parser.add_argument("--dilation", action="store_true", help="DC5: dilate the last ResNet stage")
        parser.add_argument("--min-size", type=int, default=800, help="resize: shortest side (default 800)")
        parser.add_argument("--max-size", type=int, default=1333, help="resize: longest side cap (default 1333)")
        parser.add_argument(
            "--score-threshold",
            type=float,
            default=None,
            help=f"serving_default keeps detections (segments) scoring above this (default "
            f"{DETECTION_THRESHOLD}, with --panoptic {PANOPTIC_THRESHOLD})",
        )
        parser.add_argument(
            "--max-detections",
            type=int,
            default=None,
            help=f"detections returned per image, zero-padded (default {NUM_QUERIES})",
        )
        parser.add_argument(
            "--panoptic",
            action="store_true",
            help="the panoptic model (official detr-r50/r101(-dc5)-panoptic checkpoints): "
            "serving_default returns COCO panoptic PNG segment maps; default name detr-panoptic",
        )
        parser.add_argument(
            "--categories",
            default=None,
            help='with --panoptic: a category table naming the classes ({"categories": [{"id", '
            '"name", "isthing", "color"}]}, as in COCO panoptic annotations; default '
            "the 133 COCO panoptic categories)",
        )

        add_max_image_pixels_argument(parser)

    def default_name(self) -> str:
        return "detr-panoptic" if self.panoptic else self.command

    def describe(self) -> str:
        kind = " panoptic" if self.panoptic else ""
        return f"DETR{kind} ({architecture(self.backbone, self.dilation)})"

    def weights_preset(self) -> Preset | None:
        if self.config is not None and self.weights in (COCO, COCO_PANOPTIC):
            raise ExportError(f"--weights {self.weights} is for the official architectures, not a custom config")
        if self.weights == COCO and self.panoptic:
            raise ExportError("--weights coco is the detection checkpoint; the panoptic model's is coco-panoptic")
        if self.weights == COCO_PANOPTIC and not self.panoptic:
            raise ExportError("--weights coco-panoptic is a panoptic checkpoint: add --panoptic")
        return choose_preset(self.weights, PRESETS, architecture(self.backbone, self.dilation))

    def official_checkpoint(self) -> str | None:
        """The official .pth the weights come from: --checkpoint, or --weights naming a .pth file."""
        if self.checkpoint is not None:
            return self.checkpoint
        return self.weights if self.weights.endswith(".pth") else None

    def input_files(self) -> dict[str, Path]:
        checkpoint = self.official_checkpoint()
        files = {"checkpoint": Path(checkpoint)} if checkpoint is not None else {}
        if self.weights != NONE and checkpoint is None and self.weights_preset() is None:
            files["weights file"] = Path(self.weights)
        if self.categories is not None:
            files["category table"] = Path(self.categories)
        return files

    def build(self) -> Exportable:
        if self.panoptic:
            return self._build_panoptic()
        from export.detr.networks.detr import DETRConfig, build_detr

        config = self.config or DETRConfig.official(self.backbone, self.dilation)
        checkpoint, fetched = self._checkpoint()
        # Read (and check) the checkpoint before the slow build.
        state_dict = read_checked_checkpoint(checkpoint, panoptic=False)
        model = build_detr(config)
        source = load_weights(model, self._keras_weights(checkpoint), state_dict, checkpoint)
        return _with_record(
            fetched,
            detr_exportable(
                model,
                weights_source=source,
                min_size=self.min_size,
                max_size=self.max_size,
                score_threshold=self.score_threshold,
                max_detections=self.max_detections,
                max_image_pixels=self.max_image_pixels,
            ),
        )

    def _checkpoint(self):
        """(the official .pth to read or None, the fetched preset or None)."""
        fetched = self.fetch()
        return (str(fetched.path) if fetched else self.official_checkpoint()), fetched

    def _keras_weights(self, checkpoint: str | None) -> str:
        return NONE if checkpoint is not None else self.weights

    def _build_panoptic(self) -> Exportable:
        from export.detr.coco_categories import panoptic_classes
        from export.detr.networks.segmentation import build_detr_segm, panoptic_config
        from export.detr.panoptic_exporter import panoptic_exportable

        config = self.config or panoptic_config(self.backbone, self.dilation)
        panoptic_classes(config.num_classes, self.categories)  # a bad category table fails before the build
        checkpoint, fetched = self._checkpoint()
        state_dict = read_checked_checkpoint(checkpoint, panoptic=True)
        model = build_detr_segm(config)
        source = load_weights(model, self._keras_weights(checkpoint), state_dict, checkpoint)
        return _with_record(
            fetched,
            panoptic_exportable(
                model,
                weights_source=source,
                min_size=self.min_size,
                max_size=self.max_size,
                score_threshold=self.score_threshold,
                categories=self.categories,
                max_image_pixels=self.max_image_pixels,
            ),
        )


def _with_record(fetched, exportable: Exportable) -> Exportable:
    """Record the published file an export's weights came from (URL, SHA-256, licence) in export_info."""
    if fetched is not None:
        exportable.info["weights_file"] = fetched.record()
    return exportable


def read_checked_checkpoint(checkpoint: str | None, panoptic: bool) -> dict | None:
    """The official state dict of --checkpoint (None without one), checked to be of the model's kind."""
    if checkpoint is None:
        return None
    from export.detr.weights.convert import check_kind, read_checkpoint

    state_dict = read_checkpoint(checkpoint)
    check_kind(state_dict, panoptic)
    return state_dict


def load_weights(model: DETR | DETRsegm, weights: str, state_dict: dict | None, checkpoint: str | None) -> str:
    """Apply an official state dict (from --checkpoint) or --weights (none | Keras weights file) to a DETR or
    a DETRsegm (the checkpoint's kind must match the model's)."""
    from export.detr.weights.convert import load_state_dict
    from export.weights.keras_file import load_keras_weights

    if state_dict is not None:
        load_state_dict(model, state_dict)
        return f"official-format checkpoint {Path(checkpoint).name}"
    if weights == NONE:
        return "random initialisation"
    from export.detr.networks.segmentation import DETRsegm

    what = "this DETR panoptic architecture" if isinstance(model, DETRsegm) else "this DETR architecture"
    load_keras_weights(model, weights, what)
    return f"keras weights {Path(weights).name}"


def detr_exportable(
    model: DETR,
    *,
    weights_source: str,
    min_size: int = 800,
    max_size: int = 1333,
    score_threshold: float = 0.7,
    max_detections: int = 100,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> Exportable:
    """Endpoints, examples, export_info and the category-name asset of a built DETR."""
    import numpy as np

    from export.detr.coco_categories import categories_path, coco_category_names
    from export.detr.signatures import build_endpoints
    from export.signatures.images import example_jpeg

    config = model.detr_config
    names = coco_category_names()
    if config.num_classes != len(names):
        raise ExportError(f"model has {config.num_classes} classes but {len(names)} COCO names ship")
    images = np.array([example_jpeg(96, 128)], dtype=object)
    examples = {
        "serving_default": {"images": images},
        # Settings one per image: the form TF Serving's batcher merges (warmup records go through it too).
        "detect_with_threshold": {
            "images": images,
            "score_threshold": np.full(1, score_threshold, np.float32),
            "max_detections": np.full(1, max_detections, np.int32),
        },
        "raw": {"pixels": np.random.default_rng(0).normal(size=(1, 64, 96, 3)).astype(np.float32)},
    }
    info: dict[str, Any] = {
        **common_info(config, weights_source, min_size, max_size, score_threshold),
        "max_detections": max_detections,
        "max_image_pixels": max_image_pixels,
        "classes": "COCO category ids 0-90 (assets/coco_categories.json), 91 = no object",
    }
    endpoints = build_endpoints(model, names, min_size, max_size, score_threshold, max_detections, max_image_pixels)
    return Exportable(
        model=model, endpoints=endpoints, examples=examples, info=info, assets=[Path(str(categories_path()))]
    )
