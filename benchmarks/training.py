"""`python -m benchmarks training`: the full-length convergence runs, timed, with what each one reached.

    python -m benchmarks training [--model detr|detr-masks|stylegan|all] [--quick] [--out FILE]

The unit suite proves in a few steps that every trainer's loss falls, that gradients reach every weight
it trains, and that its command writes weights the exporter reads. Whether a run of realistic length
reaches a useful quality takes minutes on two cores, so it is measured here:

  detr        `export.detr.training` on 32 synthetic 64x64 scenes (1-2 shapes), a tiny DETR (ResNet 1-1-1-1
              width 16, d 64, 1+2 layers, 8 queries), 30 epochs at lr 2e-3: the epoch loss, and the mean IoU
              of Hungarian-matched boxes untrained, trained, and for the best constant guess (the mean box)
  detr-masks  the paper's second stage: a tiny DETR (d 128, 8 heads) trained 30 epochs on 32 panoptic scenes,
              frozen, then the attention map and mask head 30 epochs: the mask loss, and the matched queries'
              mask IoU before, after, and for a whole-image mask (chance)
  stylegan    `export.stylegan.training` at 16² (channels <= 32, latent 64) on the lfw_subset faces, 200
              iterations: the kernel distance of Gs samples to held-out faces, before and after

Each run is checked against the criteria its unit test used to assert (`criteria`); a full run that
misses one exits 1. `--quick` runs every model for a step or two on a handful of scenes, eagerly (what the
test of this command runs): figures, not convergence. The JSON (`--out`) holds every figure printed.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODELS = ("detr", "detr-masks", "stylegan")


@dataclass(frozen=True)
class Schedule:
    """How long a run trains: scenes and epochs for DETR's stages, iterations for StyleGAN."""

    scenes: int
    epochs: int
    batch_size: int
    stylegan_steps: int
    stylegan_eval_samples: int


FULL = Schedule(scenes=32, epochs=30, batch_size=8, stylegan_steps=200, stylegan_eval_samples=100)
QUICK = Schedule(scenes=4, epochs=1, batch_size=2, stylegan_steps=2, stylegan_eval_samples=8)


def _train_detector(config, samples, schedule: Schedule) -> tuple[object, list[float]]:
    """A DETR of `config` trained on `samples` with the recipe the runs share (lr 2e-3, clip 1, stem trained)."""
    import keras

    from export.detr.networks.detr import build_detr
    from export.detr.training.engine import train

    keras.utils.set_random_seed(0)
    model = build_detr(config)
    history = train(
        model,
        samples,
        epochs=schedule.epochs,
        batch_size=schedule.batch_size,
        lr=2e-3,
        lr_backbone=2e-3,
        clip_norm=1.0,
        train_stem=True,
        log=lambda line: None,
    )
    return model, history


def run_detr(schedule: Schedule, work: Path) -> dict:
    import keras

    from export.detr.networks.box_ops import box_cxcywh_to_xyxy, box_iou
    from export.detr.networks.detr import build_detr
    from export.detr.training.criterion import SetCriterion
    from export.detr.training.datasets import load_coco
    from export.detr.training.engine import mean_matched_iou
    from export.detr.training.synthetic import synthetic_detr_config, write_dataset

    config = synthetic_detr_config(hidden_dim=64, num_heads=4)
    annotations = write_dataset(work, schedule.scenes, 64, 64, seed=0, max_objects=2)
    samples, _ = load_coco(work / "images", annotations, 64, 64)
    criterion = SetCriterion(config.num_classes)
    keras.utils.set_random_seed(0)  # the initialisation `_train_detector` starts from
    untrained = mean_matched_iou(build_detr(config), criterion, samples, 16, 2)
    start = time.monotonic()
    model, history = _train_detector(config, samples, schedule)
    seconds = time.monotonic() - start
    trained = mean_matched_iou(model, criterion, samples, 16, 2)
    boxes = np.concatenate([s.boxes for s in samples])
    iou, _ = box_iou(box_cxcywh_to_xyxy(boxes), box_cxcywh_to_xyxy(boxes.mean(0, keepdims=True)))
    chance = float(np.mean(iou))
    return {
        "scenes": schedule.scenes,
        "epochs": schedule.epochs,
        "steps": schedule.epochs * (schedule.scenes // schedule.batch_size),
        "train_seconds": seconds,
        "loss_first_epoch": history[0],
        "loss_last_5_epochs": float(np.mean(history[-5:])),
        "loss_history": history,
        "matched_box_iou_untrained": untrained,
        "matched_box_iou_trained": trained,
        "matched_box_iou_constant_guess": chance,
        "criteria": {
            "last 5 epochs' loss < 0.6 x the first epoch's": bool(np.mean(history[-5:]) < 0.6 * history[0]),
            "matched box IoU > max(untrained, constant guess) + 0.2": bool(trained > max(untrained, chance) + 0.2),
        },
    }


def run_detr_masks(schedule: Schedule, work: Path) -> dict:
    import keras

    from export.detr.networks.segmentation import build_detr_segm
    from export.detr.training.criterion import SetCriterion
    from export.detr.training.synthetic import synthetic_detr_config, write_panoptic_dataset
    from export.detr.training.train_masks import load_coco_panoptic, mean_mask_iou, train_masks

    config = synthetic_detr_config(hidden_dim=128, num_heads=8)
    annotations = write_panoptic_dataset(work, schedule.scenes, 64, 64, seed=0, max_objects=2)
    samples, _ = load_coco_panoptic(work / "images", work / "panoptic", annotations, 64, 64)
    start = time.monotonic()
    detector, detector_history = _train_detector(config, samples, schedule)
    detector_seconds = time.monotonic() - start
    keras.utils.set_random_seed(0)
    model = build_detr_segm(config)
    model.detr.set_weights(detector.get_weights())
    criterion = SetCriterion(config.num_classes)
    before = mean_mask_iou(model, criterion, samples, 16, 2)
    start = time.monotonic()
    history = train_masks(
        model,
        samples,
        epochs=schedule.epochs,
        batch_size=schedule.batch_size,
        lr=2e-3,
        clip_norm=1.0,
        log=lambda _: None,
    )
    seconds = time.monotonic() - start
    after = mean_mask_iou(model, criterion, samples, 16, 2)
    chance = float(np.mean([mask.mean() for sample in samples for mask in sample.masks]))
    return {
        "scenes": schedule.scenes,
        "epochs": schedule.epochs,
        "steps": schedule.epochs * (schedule.scenes // schedule.batch_size),
        "detector_train_seconds": detector_seconds,
        "detector_loss_first_epoch": detector_history[0],
        "detector_loss_last_5_epochs": float(np.mean(detector_history[-5:])),
        "train_seconds": seconds,
        "mask_loss_first_3_epochs": float(np.mean(history[:3])),
        "mask_loss_last_5_epochs": float(np.mean(history[-5:])),
        "mask_loss_history": history,
        "mask_iou_before": before,
        "mask_iou_after": after,
        "mask_iou_whole_image": chance,
        "criteria": {
            "last 5 epochs' mask loss < 0.6 x the first 3 epochs'": bool(
                np.mean(history[-5:]) < 0.6 * np.mean(history[:3])
            ),
            "mask IoU > max(before, whole image) + 0.3": bool(after > max(before, chance) + 0.3),
        },
    }


def run_stylegan(schedule: Schedule, work: Path) -> dict:
    from export.stylegan.training.training_loop import small_faces_config, train

    steps = schedule.stylegan_steps
    config = small_faces_config(steps, eval_every=max(1, steps // 2), eval_samples=schedule.stylegan_eval_samples)
    start = time.monotonic()
    _, history = train(config, log=lambda line: None)
    seconds = time.monotonic() - start
    start_distance, end_distance = history[0][1], history[-1][1]
    return {
        "steps": history[-1][0],
        "train_seconds": seconds,
        "kernel_distance_untrained": start_distance,
        "kernel_distance_trained": end_distance,
        "kernel_distance_history": [{"step": s, "kernel_distance": d} for s, d, _ in history],
        "criteria": {"kernel distance < 0.1 x the untrained generator's": bool(end_distance < 0.1 * start_distance)},
    }


RUNS: dict[str, Callable[[Schedule, Path], dict]] = {
    "detr": run_detr,
    "detr-masks": run_detr_masks,
    "stylegan": run_stylegan,
}


def markdown(result: dict) -> str:
    lines = ["| run | steps | train s | before | after | baseline | criteria met |", "|---|---|---|---|---|---|---|"]
    for name, run in result["runs"].items():
        if name == "detr":
            before, after, base = (
                run[k]
                for k in ("matched_box_iou_untrained", "matched_box_iou_trained", "matched_box_iou_constant_guess")
            )
            label = "box IoU"
        elif name == "detr-masks":
            before, after, base = run["mask_iou_before"], run["mask_iou_after"], run["mask_iou_whole_image"]
            label = "mask IoU"
        else:
            before, after, base = run["kernel_distance_untrained"], run["kernel_distance_trained"], float("nan")
            label = "kernel distance"
        met = sum(run["criteria"].values())
        lines.append(
            f"| {name} ({label}) | {run['steps']} | {run['train_seconds']:.0f} | {before:.3f} | {after:.3f} | "
            f"{base:.3f} | {met}/{len(run['criteria'])} |"
        )
    return "\n".join(lines)


def run_training(models: list[str], quick: bool, out: Path) -> dict:
    """Run `models`, write the JSON to `out`, print the table; returns the result."""
    schedule = QUICK if quick else FULL
    result = {"quick": quick, "schedule": schedule.__dict__, "load_average_before": os.getloadavg()[0], "runs": {}}
    start = time.monotonic()
    import tensorflow as tf

    tf.config.run_functions_eagerly(quick)  # a step or two: tracing the steps would cost more than running them
    try:
        with tempfile.TemporaryDirectory(prefix="training-benchmark-") as tmp:
            for name in models:
                run_start = time.monotonic()
                run = RUNS[name](schedule, Path(tmp) / name)
                run["seconds"] = time.monotonic() - run_start
                result["runs"][name] = run
                print(f"{name}: {run['seconds']:.0f} s, criteria {run['criteria']}", flush=True)
    finally:
        tf.config.run_functions_eagerly(False)
    result["seconds"] = time.monotonic() - start
    result["load_average_after"] = os.getloadavg()[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))
    print(f"total {result['seconds']:.0f} s; result: {out}")
    return result


def criteria_met(result: dict) -> bool:
    return all(all(run["criteria"].values()) for run in result["runs"].values())
