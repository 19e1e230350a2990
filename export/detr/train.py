"""Train DETR on a COCO-format detection set with the Hungarian set loss.

    python -m export.detr.train --data DIR/images --annotations DIR/annotations.json --output w.weights.h5

AdamW (lr 1e-4, backbone 1e-5, weight decay 1e-4), gradient clipping at global norm 0.1, auxiliary
losses on every decoder layer, as in the paper. Flags shrink the architecture for small experiments;
the defaults are DETR-R50 (whose weights can then be exported with `python -m export detr --weights`).
"""
import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from export.detr.box_ops import box_xyxy_to_cxcywh
from export.detr.criterion import SetCriterion, matched_iou
from export.detr.detr import DETR, DETRConfig, build_detr
from export.detr.preprocessing import resize_and_normalize
from export.images import decode_rgb


@dataclass
class Sample:
    pixels: np.ndarray     # normalised float32 [h, w, 3]
    labels: np.ndarray     # int32 [T] category ids
    boxes: np.ndarray      # float32 [T, 4] normalised cxcywh


def load_coco(data_dir: str | Path, annotations: str | Path, min_size: int, max_size: int) -> tuple[list[Sample], int]:
    """Images resized like the evaluation transform; returns the samples and num_classes (max id + 1)."""
    coco = json.loads(Path(annotations).read_text())
    by_image: dict[int, list[dict]] = {}
    for annotation in coco["annotations"]:
        if not annotation.get("iscrowd", 0):
            by_image.setdefault(annotation["image_id"], []).append(annotation)
    samples = []
    for image in coco["images"]:
        # Decoded and resized by the same graph functions as the serving signature.
        rgb = decode_rgb(tf.io.read_file(str(Path(data_dir) / image["file_name"])))
        height, width = rgb.shape[:2]
        pixels = resize_and_normalize(rgb, min_size, max_size).numpy()
        objects = by_image.get(image["id"], [])
        xywh = np.array([a["bbox"] for a in objects], np.float32).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1) / [width, height, width, height]
        samples.append(Sample(pixels, np.array([a["category_id"] for a in objects], np.int32),
                              np.asarray(box_xyxy_to_cxcywh(xyxy.astype(np.float32)), np.float32).reshape(-1, 4)))
    num_classes = max(c["id"] for c in coco["categories"]) + 1
    return samples, num_classes


def collate(samples: list[Sample], max_targets: int):
    """Zero-pad images to the largest (mask True on padding) and targets to max_targets."""
    height = max(s.pixels.shape[0] for s in samples)
    width = max(s.pixels.shape[1] for s in samples)
    pixels = np.zeros((len(samples), height, width, 3), np.float32)
    mask = np.ones((len(samples), height, width), bool)
    labels = np.zeros((len(samples), max_targets), np.int32)
    boxes = np.tile(np.array([0.5, 0.5, 1.0, 1.0], np.float32), (len(samples), max_targets, 1))
    counts = np.array([len(s.labels) for s in samples], np.int32)
    for i, s in enumerate(samples):
        h, w = s.pixels.shape[:2]
        pixels[i, :h, :w], mask[i, :h, :w] = s.pixels, False
        labels[i, :counts[i]], boxes[i, :counts[i]] = s.labels, s.boxes
    return pixels, mask, labels, boxes, counts


class Trainer:
    """One AdamW for the backbone, one for the rest; clip the global gradient norm."""

    def __init__(self, model: DETR, criterion: SetCriterion, lr: float = 1e-4, lr_backbone: float = 1e-5,
                 weight_decay: float = 1e-4, clip_norm: float = 0.1, train_stem: bool = False):
        self.model, self.criterion, self.clip_norm = model, criterion, clip_norm
        body = model.backbone
        # As the official code: the stem conv and layer1 stay frozen unless train_stem.
        frozen = [] if train_stem else body.conv1.trainable_variables + [
            v for block in body.stages[0] for v in block.trainable_variables]
        frozen_ids = {id(v) for v in frozen}
        backbone_ids = {id(v) for v in body.trainable_variables}
        self.backbone_vars = [v for v in body.trainable_variables if id(v) not in frozen_ids]
        self.other_vars = [v for v in model.trainable_variables if id(v) not in backbone_ids]
        self.optimizer = keras.optimizers.AdamW(lr, weight_decay=weight_decay)
        self.backbone_optimizer = keras.optimizers.AdamW(lr_backbone, weight_decay=weight_decay)

    @tf.function(reduce_retracing=True)
    def step(self, pixels, mask, labels, boxes, counts):
        with tf.GradientTape() as tape:
            outputs = self.model(pixels, mask, training=True)
            losses = self.criterion(outputs, labels, boxes, counts)
        variables = self.backbone_vars + self.other_vars
        grads = tape.gradient(losses["loss"], variables)
        grads, _ = tf.clip_by_global_norm(grads, self.clip_norm)
        split = len(self.backbone_vars)
        if split:
            self.backbone_optimizer.apply_gradients(zip(grads[:split], self.backbone_vars))
        self.optimizer.apply_gradients(zip(grads[split:], self.other_vars))
        return losses


def mean_matched_iou(model: DETR, criterion: SetCriterion, samples: list[Sample], batch_size: int,
                     max_targets: int) -> float:
    """Mean IoU of the Hungarian-matched (prediction, target) pairs of the last decoder layer."""
    ious = []
    for start in range(0, len(samples), batch_size):
        pixels, mask, labels, boxes, counts = collate(samples[start:start + batch_size], max_targets)
        outputs = model(pixels, mask, training=False)
        table = criterion.match(outputs["pred_logits"], outputs["pred_boxes"], labels, boxes, counts)
        ious.append(matched_iou(outputs["pred_boxes"], boxes, table).numpy())
    return float(np.mean(np.concatenate(ious)))


def train(model: DETR, samples: list[Sample], *, epochs: int, batch_size: int, lr: float, lr_backbone: float,
          weight_decay: float = 1e-4, clip_norm: float = 0.1, eos_coef: float = 0.1, train_stem: bool = False,
          seed: int = 0, log=print) -> list[float]:
    """Returns the mean total loss of every epoch."""
    criterion = SetCriterion(model.detr_config.num_classes, eos_coef=eos_coef)
    trainer = Trainer(model, criterion, lr, lr_backbone, weight_decay, clip_norm, train_stem)
    return run_epochs(trainer.step, collate, samples, epochs=epochs, batch_size=batch_size, seed=seed, log=log)


def run_epochs(step, collate_batch, samples: list[Sample], *, epochs: int, batch_size: int, seed: int, log,
               label: str = "loss") -> list[float]:
    """Shuffle, cut into full batches, `step(*collate_batch(batch, max_targets))["loss"]`; returns and logs
    ("epoch i/n <label> x") the mean loss of every epoch."""
    max_targets = max(1, max(len(s.labels) for s in samples))
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(epochs):
        order = rng.permutation(len(samples))
        epoch_losses = []
        for start in range(0, len(order) - batch_size + 1, batch_size):
            batch = collate_batch([samples[i] for i in order[start:start + batch_size]], max_targets)
            epoch_losses.append(float(step(*batch)["loss"]))
        history.append(float(np.mean(epoch_losses)))
        log(f"epoch {epoch + 1}/{epochs} {label} {history[-1]:.4f}")
    return history


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every DETR training command shares: epochs, batch, AdamW, clipping, resize, seed."""
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--clip-max-norm", type=float, default=0.1)
    parser.add_argument("--min-size", type=int, default=800)
    parser.add_argument("--max-size", type=int, default=1333)
    parser.add_argument("--seed", type=int, default=None, help="seed Python, NumPy and TensorFlow")


def add_architecture_arguments(parser: argparse.ArgumentParser) -> None:
    """DETR's architecture flags (defaults: DETR-R50); they shrink the model for small experiments."""
    parser.add_argument("--backbone", default="resnet50", choices=["resnet50", "resnet101"])
    parser.add_argument("--dilation", action="store_true")
    parser.add_argument("--backbone-blocks", type=int, nargs=4, default=None, help="override, e.g. 1 1 1 1")
    parser.add_argument("--backbone-width", type=int, default=64)
    parser.add_argument("--hidden-dim", type=int, default=256)
    parser.add_argument("--nheads", type=int, default=8)
    parser.add_argument("--enc-layers", type=int, default=6)
    parser.add_argument("--dec-layers", type=int, default=6)
    parser.add_argument("--dim-feedforward", type=int, default=2048)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--num-queries", type=int, default=100)
    parser.add_argument("--num-classes", type=int, default=None,
                        help="max category id + 1 (default: from the annotations; COCO 91)")


def architecture_config(args: argparse.Namespace, num_classes: int) -> DETRConfig:
    """The DETRConfig the architecture flags describe (`--num-classes`, else the dataset's count)."""
    official = DETRConfig.official(args.backbone, args.dilation)
    return DETRConfig(backbone=args.backbone, dilation=args.dilation,
                      blocks=tuple(args.backbone_blocks) if args.backbone_blocks else official.blocks,
                      backbone_width=args.backbone_width, hidden_dim=args.hidden_dim, num_heads=args.nheads,
                      num_encoder_layers=args.enc_layers, num_decoder_layers=args.dec_layers,
                      dim_feedforward=args.dim_feedforward, dropout=args.dropout, num_queries=args.num_queries,
                      num_classes=args.num_classes or num_classes)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m export.detr.train", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding the images named in the annotations")
    parser.add_argument("--annotations", required=True, help="COCO-format json (images, annotations, categories)")
    parser.add_argument("--output", default="detr.weights.h5", help="Keras weights file to write")
    add_schedule_arguments(parser)
    parser.add_argument("--lr-backbone", type=float, default=1e-5)
    parser.add_argument("--eos-coef", type=float, default=0.1)
    parser.add_argument("--train-stem", action="store_true",
                        help="also train the stem conv and layer1 (frozen in the official recipe)")
    add_architecture_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)
    samples, num_classes = load_coco(args.data, args.annotations, args.min_size, args.max_size)
    model = build_detr(architecture_config(args, num_classes))
    train(model, samples, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
          lr_backbone=args.lr_backbone, weight_decay=args.weight_decay, clip_norm=args.clip_max_norm,
          eos_coef=args.eos_coef, train_stem=args.train_stem, seed=args.seed or 0)
    model.save_weights(args.output)
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
