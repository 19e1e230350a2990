"""Export one EfficientNet version: model, weights, signatures, checks and warmup together."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import tensorflow as tf

from export.efficientnet.model import build_efficientnet
from export.efficientnet.scaling import custom_scaling, variant_scaling
from export.efficientnet.serving import (IMAGE_FEATURE, build_endpoints, class_names_path,
                                         imagenet_class_names, sample_jpeg)
from export.efficientnet.weights import load_weights, resolve_weights
from export.pipeline import export_version
from export.publish import check_version_free


def export_efficientnet(*, variant: str = "b0", phi: float | None = None, alpha: float = 1.2,
                        beta: float = 1.1, gamma: float = 1.15, weights: str = "none", top_k: int = 5,
                        models_dir: str | Path = "models", name: str = "efficientnet",
                        version: int | None = None, force: bool = False) -> Path:
    scaling = variant_scaling(variant) if phi is None else custom_scaling(phi, alpha, beta, gamma)
    check_version_free(Path(models_dir) / name, version, force)
    weights_file = resolve_weights(weights, scaling)
    model = build_efficientnet(scaling)
    weights_source = load_weights(model, weights_file, scaling)
    endpoints = {e.name: e for e in build_endpoints(model, imagenet_class_names(), top_k)}

    size = scaling.resolution
    jpeg = np.array([sample_jpeg()], dtype=object)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype(np.float32)
    example = tf.train.Example(features=tf.train.Features(feature={
        IMAGE_FEATURE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[sample_jpeg()]))}))
    expected_pixels = endpoints["predict_pixels"].fn(tf.constant(pixels))
    expected_images = endpoints["serving_default"].fn(tf.constant(jpeg))
    expected_classify = endpoints["classify"].fn(tf.constant([example.SerializeToString()]))
    # Scores are compared, not ids: with random weights near-ties may order differently.
    checks = {
        "predict_pixels": ({"pixels": pixels}, {"probabilities": expected_pixels["probabilities"].numpy()}),
        "serving_default": ({"images": jpeg}, {"scores": expected_images["scores"].numpy()}),
        "classify": ({"inputs": np.array([example.SerializeToString()], dtype=object)},
                     {"scores": expected_classify["scores"].numpy()}),
    }
    info = {
        "model": "efficientnet",
        "variant": scaling.name,
        "scaling": asdict(scaling),
        "weights": weights_source,
        "input_size": [size, size, 3],
        "top_k": top_k,
        "preprocessing": f"decode, centre crop {size}/({size}+32) of the short side, bicubic resize to {size}",
        "classes": "ImageNet-1k (assets/imagenet_classes.txt)",
    }
    return export_version(
        model=model, endpoints=list(endpoints.values()), models_dir=models_dir, name=name, version=version,
        force=force, info=info, checks=checks, assets=[Path(str(class_names_path()))],
        warmup={"serving_default": {"images": jpeg}, "predict_pixels": {"pixels": pixels[:1]}})
