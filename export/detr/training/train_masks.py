"""Train DETR's panoptic mask head with the detector frozen (the paper's second stage).

    python -m export.detr.training.train_masks --data DIR/images --panoptic DIR/panoptic \\
        --annotations DIR/panoptic.json --detr-weights detr.weights.h5 --output detr-panoptic.weights.h5

As the official `main.py --masks --frozen_weights`: a trained DETR (a Keras weights file from
`python -m export.detr.training`, or an official detector checkpoint with --checkpoint) is frozen; only
the attention map and the mask head learn, from the sigmoid focal loss + DICE (weights 1 and 1) on the
queries Hungarian-matched to the targets by the frozen detector's classes and boxes. AdamW (lr 1e-4,
weight decay 1e-4), gradient clipping 0.1. The detector still runs in training mode (its dropout is
active), as in the official recipe. The data is COCO panoptic: images, PNG segment maps and a json
with segments_info, read as the official CocoPanoptic dataset reads them. The output is the whole
DETRsegm's Keras weights.
"""

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from export.detr.networks.box_ops import box_xyxy_to_cxcywh
from export.detr.networks.interpolate import resize_nearest
from export.detr.networks.segmentation import DETRsegm, build_detr_segm
from export.detr.panoptic_png import rgb_to_id
from export.detr.preprocessing import resize_and_normalize
from export.detr.training.arguments import add_architecture_arguments, add_schedule_arguments, architecture_config
from export.detr.training.criterion import SetCriterion
from export.detr.training.datasets import Sample, collate
from export.detr.training.engine import run_epochs
from export.detr.training.mask_losses import mask_losses, matched_masks
from export.detr.weights.convert import load_state_dict, read_checkpoint
from export.errors import ExportError
from export.signatures.images import decode_rgb
from export.weights.keras_file import load_keras_weights


@dataclass
class MaskSample(Sample):
    masks: np.ndarray | None = None  # bool [T, h, w] at the resized size (always set by the loader)


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """[T, H, W] bool -> [T, 4] (x0, y0, x1, y1) in pixels, x1/y1 the last covered index (as official)."""
    boxes = np.zeros((len(masks), 4), np.float32)
    for i, mask in enumerate(masks):
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        boxes[i] = cols[0], rows[0], cols[-1], rows[-1]
    return boxes


def load_coco_panoptic(
    data_dir: str | Path, panoptic_dir: str | Path, annotations: str | Path, min_size: int, max_size: int
) -> tuple[list[MaskSample], int]:
    """Images resized like the evaluation transform, one mask per segment (nearest resize, > 0.5);
    boxes from the masks, normalised cxcywh. Returns the samples and num_classes (max id + 1)."""
    coco = json.loads(Path(annotations).read_text())
    by_image = {annotation["image_id"]: annotation for annotation in coco["annotations"]}
    samples = []
    for image in sorted(coco["images"], key=lambda image: image["id"]):
        rgb = decode_rgb(tf.io.read_file(str(Path(data_dir) / image["file_name"])))
        height, width = rgb.shape[:2]
        pixels = resize_and_normalize(rgb, min_size, max_size).numpy()
        annotation = by_image[image["id"]]
        segments = annotation["segments_info"]
        ids = rgb_to_id(
            tf.io.decode_png(tf.io.read_file(str(Path(panoptic_dir) / annotation["file_name"])), channels=3)
        ).numpy()
        if ids.shape != (height, width):
            raise ExportError(f"segment map {annotation['file_name']} is {ids.shape}, its image {(height, width)}")
        masks = ids[None] == np.array([s["id"] for s in segments], np.int32).reshape(-1, 1, 1)
        xyxy = masks_to_boxes(masks) / np.float32([width, height, width, height])
        resized = resize_nearest(masks.astype(np.float32), *pixels.shape[:2]).numpy() > 0.5
        samples.append(
            MaskSample(
                pixels,
                np.array([s["category_id"] for s in segments], np.int32),
                np.asarray(box_xyxy_to_cxcywh(xyxy), np.float32).reshape(-1, 4),
                resized,
            )
        )
    num_classes = max(c["id"] for c in coco["categories"]) + 1
    return samples, num_classes


def collate_masks(samples: list[MaskSample], max_targets: int):
    """`collate`'s batch plus the target masks, zero-padded to [N, max_targets, H, W]."""
    pixels, mask, labels, boxes, counts = collate(samples, max_targets)
    target_masks = np.zeros((len(samples), max_targets, *pixels.shape[1:3]), np.float32)
    for i, sample in enumerate(samples):
        t, h, w = sample.masks.shape
        target_masks[i, :t, :h, :w] = sample.masks
    return pixels, mask, labels, boxes, counts, target_masks


class MaskTrainer:
    """AdamW on the attention map and the mask head only; the detector's weights never change."""

    def __init__(
        self,
        model: DETRsegm,
        criterion: SetCriterion,
        lr: float = 1e-4,
        weight_decay: float = 1e-4,
        clip_norm: float = 0.1,
    ):
        self.model, self.criterion, self.clip_norm = model, criterion, clip_norm
        self.variables = model.bbox_attention.trainable_variables + model.mask_head.trainable_variables
        self.optimizer = keras.optimizers.AdamW(lr, weight_decay=weight_decay)
        self.optimizer.build(self.variables)  # so the first traced step creates no variable (one trace, not two)

    @tf.function(reduce_retracing=True)
    def step(self, pixels, mask, labels, boxes, counts, target_masks):
        with tf.GradientTape() as tape:
            outputs = self.model(pixels, mask, training=True)
            table = self.criterion.match(outputs["pred_logits"], outputs["pred_boxes"], labels, boxes, counts)
            losses = mask_losses(outputs["pred_masks"], target_masks, table, counts)
            losses["loss"] = losses["loss_mask"] + losses["loss_dice"]
        grads = tape.gradient(losses["loss"], self.variables)
        grads, _ = tf.clip_by_global_norm(grads, self.clip_norm)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        return losses


def mean_mask_iou(
    model: DETRsegm, criterion: SetCriterion, samples: list[MaskSample], batch_size: int, max_targets: int
) -> float:
    """Mean IoU of matched (predicted mask > 0.5, target mask) pairs, inside each image (padding excluded)."""
    ious = []
    for start in range(0, len(samples), batch_size):
        pixels, mask, labels, boxes, counts, target_masks = collate_masks(
            samples[start : start + batch_size], max_targets
        )
        outputs = model(pixels, mask, training=False)
        table = criterion.match(outputs["pred_logits"], outputs["pred_boxes"], labels, boxes, counts)
        predictions, targets = matched_masks(outputs["pred_masks"], target_masks, table)
        valid = tf.gather(tf.logical_not(mask), tf.where(table >= 0)[:, 0])
        predicted = tf.logical_and(predictions > 0.0, valid).numpy()
        targets = targets.numpy() > 0.5
        ious.append((predicted & targets).sum((1, 2)) / np.maximum((predicted | targets).sum((1, 2)), 1))
    return float(np.mean(np.concatenate(ious)))


def train_masks(
    model: DETRsegm,
    samples: list[MaskSample],
    *,
    epochs: int,
    batch_size: int,
    lr: float = 1e-4,
    weight_decay: float = 1e-4,
    clip_norm: float = 0.1,
    seed: int = 0,
    log=print,
) -> list[float]:
    """Returns the mean mask loss (focal + DICE) of every epoch."""
    trainer = MaskTrainer(model, SetCriterion(model.detr_config.num_classes), lr, weight_decay, clip_norm)
    return run_epochs(
        trainer.step,
        collate_masks,
        samples,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        log=log,
        label="mask loss",
    )


def load_detector(model: DETRsegm, detr_weights: str | None, checkpoint: str | None) -> None:
    """The frozen detector: a Keras DETR weights file or an official detector checkpoint (.pth)."""
    if (detr_weights is None) == (checkpoint is None):
        raise ExportError("give the trained detector: --detr-weights (Keras) or --checkpoint (official .pth)")
    if checkpoint is not None:
        load_state_dict(model.detr, read_checkpoint(checkpoint))
        return
    load_keras_weights(model.detr, detr_weights, "the DETR detector of this architecture")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m export.detr.training.train_masks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", required=True, help="folder holding the images named in the json's images")
    parser.add_argument("--panoptic", required=True, help="folder holding the PNG segment maps")
    parser.add_argument("--annotations", required=True, help="COCO panoptic json (images, annotations, categories)")
    parser.add_argument("--detr-weights", default=None, help="the trained detector: Keras DETR weights file")
    parser.add_argument("--checkpoint", default=None, help="the trained detector: official DETR .pth")
    parser.add_argument("--output", default="detr-panoptic.weights.h5", help="Keras DETRsegm weights file to write")
    add_schedule_arguments(parser)
    add_architecture_arguments(parser)
    parser.set_defaults(epochs=25)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)
    samples, num_classes = load_coco_panoptic(args.data, args.panoptic, args.annotations, args.min_size, args.max_size)
    try:
        model = build_detr_segm(architecture_config(args, num_classes))
        load_detector(model, args.detr_weights, args.checkpoint)
    except (ExportError, ValueError) as error:
        raise SystemExit(f"error: {error}") from error
    before = mean_mask_iou(
        model,
        SetCriterion(model.detr_config.num_classes),
        samples,
        args.batch_size,
        max(1, max(len(s.labels) for s in samples)),
    )
    print(f"mask IoU before {before:.3f}")
    train_masks(
        model,
        samples,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        clip_norm=args.clip_max_norm,
        seed=args.seed or 0,
    )
    after = mean_mask_iou(
        model,
        SetCriterion(model.detr_config.num_classes),
        samples,
        args.batch_size,
        max(1, max(len(s.labels) for s in samples)),
    )
    print(f"mask IoU after {after:.3f}")
    model.save_weights(args.output)
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
