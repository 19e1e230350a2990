"""``python -m export efficientnet``: the EfficientNet options, flags and build for the export pipeline."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from export.efficientnet.networks.scaling import ALPHA, BETA, GAMMA, Scaling, custom_scaling
from export.efficientnet.weights.presets import IMAGENET, PRESETS, VARIANTS, architecture, variant_scaling
from export.errors import ExportError
from export.pipeline.model_export import Exportable, ModelExport
from export.signatures.image_options import (
    DEFAULT_MAX_IMAGE_PIXELS,
    add_max_image_pixels_argument,
    check_max_image_pixels,
)
from export.weights.presets import NONE, choose_preset
from protocol.outputs import DEFAULT_TOP_K

if TYPE_CHECKING:
    from export.weights.presets import Preset

NUM_CLASSES = 1000


@dataclass(frozen=True)
class EfficientNetExport(ModelExport):
    """EfficientNet B0–B7 (``variant``) or custom compound scaling (``phi``), ``top_k`` classes per image.

    ``weights``: ``none`` (random), ``imagenet`` (the published Keras file, fetched into the cache)
    or a weights file (.weights.h5, .h5 or .keras).
    """

    command = "efficientnet"

    variant: str = "b0"
    phi: float | None = None
    alpha: float = ALPHA
    beta: float = BETA
    gamma: float = GAMMA
    weights: str = NONE
    top_k: int = DEFAULT_TOP_K
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS

    def __post_init__(self) -> None:
        check_max_image_pixels(self.max_image_pixels)
        self.scaling()  # unknown variant or impossible φ, α, β, γ: ExportError now, not after a build
        self.weights_preset()  # an unknown weights name too
        if not 1 <= self.top_k <= NUM_CLASSES:
            raise ExportError(f"--top-k must be between 1 and {NUM_CLASSES}, got {self.top_k}")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "EfficientNet B0-B7, or custom compound scaling with --phi. --weights takes "
            "'none' (random), 'imagenet' (the published Keras file, fetched into the cache: "
            "python -m export weights list) or a weights file (.weights.h5, .h5 or .keras)."
        )
        parser.add_argument(
            "--variant",
            default="b0",
            type=str.lower,
            choices=list(VARIANTS),
            help="released variant (default: b0); ignored with --phi",
        )
        parser.add_argument(
            "--phi",
            type=float,
            default=None,
            help="compound coefficient: depth alpha^phi, width beta^phi, resolution 224*gamma^phi",
        )
        parser.add_argument("--alpha", type=float, default=ALPHA, help=f"depth base (default {ALPHA})")
        parser.add_argument("--beta", type=float, default=BETA, help=f"width base (default {BETA})")
        parser.add_argument("--gamma", type=float, default=GAMMA, help=f"resolution base (default {GAMMA})")
        parser.add_argument(
            "--top-k", type=int, default=DEFAULT_TOP_K, help=f"classes returned per image (default {DEFAULT_TOP_K})"
        )
        add_max_image_pixels_argument(parser)

    def scaling(self) -> Scaling:
        if self.phi is None:
            return variant_scaling(self.variant)
        return custom_scaling(self.phi, self.alpha, self.beta, self.gamma)

    def describe(self) -> str:
        return f"EfficientNet-{self.scaling().name}"

    def weights_preset(self) -> Preset | None:
        if self.phi is not None and self.weights == IMAGENET:
            raise ExportError("--weights imagenet exists only for the released variants b0-b7, not custom --phi")
        return choose_preset(self.weights, PRESETS, architecture(self.scaling().name))

    def input_files(self) -> dict[str, Path]:
        if self.weights == NONE or self.weights_preset() is not None:
            return {}
        return {"weights file": Path(self.weights)}

    def build(self) -> Exportable:
        from export.efficientnet.networks.efficientnet import build_efficientnet
        from export.efficientnet.weights.convert import load_weights

        scaling = self.scaling()
        fetched = self.fetch()
        weights_file = fetched.path if fetched else (None if self.weights == NONE else Path(self.weights))
        model = build_efficientnet(scaling, num_classes=NUM_CLASSES)
        source = load_weights(model, weights_file, scaling)
        exportable = efficientnet_exportable(
            model, scaling, weights_source=source, top_k=self.top_k, max_image_pixels=self.max_image_pixels
        )
        if fetched is not None:
            exportable.info["weights_file"] = fetched.record()
        return exportable


def efficientnet_exportable(
    model,
    scaling: Scaling,
    *,
    weights_source: str,
    top_k: int = DEFAULT_TOP_K,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> Exportable:
    """Endpoints, examples, export_info and the class-name asset of a built EfficientNet."""
    import numpy as np
    import tensorflow as tf

    from export.efficientnet.signatures import IMAGE_FEATURE, build_endpoints, class_names_path, imagenet_class_names
    from export.signatures.images import example_jpeg

    size = scaling.resolution
    jpeg = example_jpeg()
    example = tf.train.Example(
        features=tf.train.Features(
            feature={IMAGE_FEATURE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[jpeg]))}
        )
    )
    examples = {
        "serving_default": {"images": np.array([jpeg], dtype=object)},
        "predict_pixels": {"pixels": np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype(np.float32)},
        "classify": {"inputs": np.array([example.SerializeToString()], dtype=object)},
    }
    info = {
        "model": "efficientnet",
        "variant": scaling.name,
        "scaling": asdict(scaling),
        "weights": weights_source,
        "input_size": [size, size, 3],
        "top_k": top_k,
        "max_image_pixels": max_image_pixels,
        "preprocessing": f"decode, centre crop {size}/({size}+32) of the short side, bicubic resize to {size}",
        "classes": "ImageNet-1k (assets/imagenet_classes.txt)",
    }
    endpoints = build_endpoints(model, imagenet_class_names(), top_k, max_image_pixels)
    return Exportable(
        model=model, endpoints=endpoints, examples=examples, info=info, assets=[Path(str(class_names_path()))]
    )
