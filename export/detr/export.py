"""Export one DETR version: build, load weights, signatures, checks and warmup."""
from pathlib import Path

import numpy as np
import tensorflow as tf

from export.detr.checkpoint import load_state_dict, read_checkpoint
from export.detr.coco_categories import categories_path, coco_category_names
from export.detr.detr import DETRConfig, build_detr
from export.detr.serving import build_endpoints
from export.detr.synthetic import sample_png
from export.errors import ExportError
from export.pipeline import export_version
from export.publish import check_version_free


def check_options(min_size: int, max_size: int, score_threshold: float, max_detections: int,
                  num_queries: int) -> None:
    """Reject impossible export-time settings before anything is built."""
    if not 0.0 <= score_threshold <= 1.0:
        raise ExportError(f"--score-threshold must be in [0, 1], got {score_threshold}")
    if not 1 <= max_detections <= num_queries:
        raise ExportError(f"--max-detections must be in [1, {num_queries}], got {max_detections}")
    if min_size < 32 or max_size < min_size:
        raise ExportError(f"need 32 <= --min-size <= --max-size, got {min_size} and {max_size}")


def load_weights(model, weights: str, state_dict: dict | None, checkpoint: str | None) -> str:
    """Apply an official state dict (from --checkpoint) or --weights (none | Keras weights file)."""
    if state_dict is not None:
        load_state_dict(model, state_dict)
        return f"official-format checkpoint {Path(checkpoint).name}"
    if weights == "none":
        return "random initialisation"
    if not Path(weights).is_file():
        raise ExportError(f"weights file not found: {weights}")
    try:
        model.load_weights(weights)
    except Exception as error:  # Keras raises ValueError/OSError/KeyError for a wrong file
        raise ExportError(f"cannot load Keras weights {weights!r}: {str(error).splitlines()[0]}") from error
    return f"keras weights {Path(weights).name}"


def export_detr(*, config: DETRConfig | None = None, weights: str = "none", checkpoint: str | None = None,
                min_size: int = 800, max_size: int = 1333, score_threshold: float = 0.7,
                max_detections: int = 100, models_dir: str | Path = "models", name: str = "detr",
                version: int | None = None, force: bool = False) -> Path:
    config = config or DETRConfig()
    check_options(min_size, max_size, score_threshold, max_detections, config.num_queries)
    check_version_free(Path(models_dir) / name, version, force)
    if checkpoint is not None and weights != "none":
        raise ExportError("give either --checkpoint or --weights, not both")
    state_dict = read_checkpoint(checkpoint) if checkpoint is not None else None  # fail fast on a bad file
    model = build_detr(config)
    source = load_weights(model, weights, state_dict, checkpoint)
    names = coco_category_names()
    if config.num_classes != len(names):
        raise ExportError(f"model has {config.num_classes} classes but {len(names)} COCO names ship")
    endpoints = {e.name: e for e in build_endpoints(model, names, min_size, max_size, score_threshold,
                                                    max_detections)}

    images = np.array([sample_png(96, 128, seed=0)], dtype=object)
    pixels = np.random.default_rng(0).normal(size=(1, 64, 96, 3)).astype(np.float32)
    raw = endpoints["raw"].fn(tf.constant(pixels))
    detected = endpoints["serving_default"].fn(tf.constant(images))
    # Scores (sorted) and raw outputs are compared; ids of near-tied random-weight scores may reorder.
    checks = {
        "raw": ({"pixels": pixels}, {k: v.numpy() for k, v in raw.items()}),
        "serving_default": ({"images": images}, {"scores": detected["scores"].numpy()}),
    }
    threshold_inputs = {"images": images, "score_threshold": np.float32(score_threshold),
                        "max_detections": np.int32(max_detections)}
    info = {
        "model": "detr",
        "variant": f"{config.backbone}{'-dc5' if config.dilation else ''}",
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.__dict__.items()},
        "weights": source,
        "input_size": {"min_size": min_size, "max_size": max_size},
        "score_threshold": score_threshold,
        "max_detections": max_detections,
        "preprocessing": (f"decode RGB, bilinear antialiased resize (short side {min_size}, long side <= "
                          f"{max_size}), /255, ImageNet mean/std, zero-pad to the batch's largest image + mask"),
        "classes": "COCO category ids 0-90 (assets/coco_categories.json), 91 = no object",
    }
    return export_version(
        model=model, endpoints=list(endpoints.values()), models_dir=models_dir, name=name, version=version,
        force=force, info=info, checks=checks, atol=1e-4,
        assets=[Path(str(categories_path()))],
        warmup={"serving_default": {"images": images}, "detect_with_threshold": threshold_inputs,
                "raw": {"pixels": pixels}})
