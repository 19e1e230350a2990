"""One DETR training run: the optimisers and step (Trainer), the epoch loop and matched-IoU evaluation.

AdamW (lr 1e-4, backbone 1e-5, weight decay 1e-4), gradient clipping at global norm 0.1, auxiliary
losses on every decoder layer, as in the paper.
"""

import keras
import numpy as np
import tensorflow as tf

from export.detr.networks.detr import DETR
from export.detr.training.criterion import SetCriterion, matched_iou
from export.detr.training.datasets import Sample, collate


class Trainer:
    """One AdamW for the backbone, one for the rest; clip the global gradient norm."""

    def __init__(
        self,
        model: DETR,
        criterion: SetCriterion,
        lr: float = 1e-4,
        lr_backbone: float = 1e-5,
        weight_decay: float = 1e-4,
        clip_norm: float = 0.1,
        train_stem: bool = False,
    ):
        self.model, self.criterion, self.clip_norm = model, criterion, clip_norm
        body = model.backbone
        # As the official code: the stem conv and layer1 stay frozen unless train_stem.
        frozen = (
            []
            if train_stem
            else body.conv1.trainable_variables + [v for block in body.stages[0] for v in block.trainable_variables]
        )
        frozen_ids = {id(v) for v in frozen}
        backbone_ids = {id(v) for v in body.trainable_variables}
        self.backbone_vars = [v for v in body.trainable_variables if id(v) not in frozen_ids]
        self.other_vars = [v for v in model.trainable_variables if id(v) not in backbone_ids]
        self.optimizer = keras.optimizers.AdamW(lr, weight_decay=weight_decay)
        self.backbone_optimizer = keras.optimizers.AdamW(lr_backbone, weight_decay=weight_decay)
        # Built here: a first step that creates the optimizers' variables makes tf.function trace it twice.
        self.optimizer.build(self.other_vars)
        if self.backbone_vars:
            self.backbone_optimizer.build(self.backbone_vars)

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


def mean_matched_iou(
    model: DETR, criterion: SetCriterion, samples: list[Sample], batch_size: int, max_targets: int
) -> float:
    """Mean IoU of the Hungarian-matched (prediction, target) pairs of the last decoder layer."""
    ious = []
    for start in range(0, len(samples), batch_size):
        pixels, mask, labels, boxes, counts = collate(samples[start : start + batch_size], max_targets)
        outputs = model(pixels, mask, training=False)
        table = criterion.match(outputs["pred_logits"], outputs["pred_boxes"], labels, boxes, counts)
        ious.append(matched_iou(outputs["pred_boxes"], boxes, table).numpy())
    return float(np.mean(np.concatenate(ious)))


def train(
    model: DETR,
    samples: list[Sample],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    lr_backbone: float,
    weight_decay: float = 1e-4,
    clip_norm: float = 0.1,
    eos_coef: float = 0.1,
    train_stem: bool = False,
    seed: int = 0,
    log=print,
) -> list[float]:
    """Returns the mean total loss of every epoch."""
    criterion = SetCriterion(model.detr_config.num_classes, eos_coef=eos_coef)
    trainer = Trainer(model, criterion, lr, lr_backbone, weight_decay, clip_norm, train_stem)
    return run_epochs(trainer.step, collate, samples, epochs=epochs, batch_size=batch_size, seed=seed, log=log)


def run_epochs(
    step, collate_batch, samples: list[Sample], *, epochs: int, batch_size: int, seed: int, log, label: str = "loss"
) -> list[float]:
    """Shuffle, cut into full batches, `step(*collate_batch(batch, max_targets))["loss"]`; returns and logs
    ("epoch i/n <label> x") the mean loss of every epoch."""
    max_targets = max(1, max(len(s.labels) for s in samples))
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(epochs):
        order = rng.permutation(len(samples))
        epoch_losses = []
        for start in range(0, len(order) - batch_size + 1, batch_size):
            batch = collate_batch([samples[i] for i in order[start : start + batch_size]], max_targets)
            epoch_losses.append(float(step(*batch)["loss"]))
        history.append(float(np.mean(epoch_losses)))
        log(f"epoch {epoch + 1}/{epochs} {label} {history[-1]:.4f}")
    return history
