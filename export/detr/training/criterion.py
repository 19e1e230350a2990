"""DETR's set loss: Hungarian matching, then weighted CE + L1 + GIoU on every decoder layer."""

from dataclasses import dataclass, field

import tensorflow as tf
from keras import ops

from export.detr.networks.box_ops import box_cxcywh_to_xyxy, box_iou, generalized_box_iou
from export.detr.training.matcher import HungarianMatcher, assignment_table


@dataclass(frozen=True)
class SetCriterion:
    """Targets are padded: labels [N, T] int, boxes [N, T, 4] (normalised cxcywh), num_targets [N].

    `loss_ce` weights the no-object class by eos_coef (weighted mean, as F.cross_entropy with weights);
    `loss_bbox` and `loss_giou` sum over matched pairs and divide by the number of target boxes (>= 1).
    """

    num_classes: int
    matcher: HungarianMatcher = field(default_factory=HungarianMatcher)
    eos_coef: float = 0.1
    weight_ce: float = 1.0
    weight_bbox: float = 5.0
    weight_giou: float = 2.0

    def match(self, logits, boxes, labels, target_boxes, num_targets):
        """[N, Q] int32 target index per query (-1: unmatched), computed without gradients."""
        costs = self.matcher.cost_matrix(tf.stop_gradient(logits), tf.stop_gradient(boxes), labels, target_boxes)
        table = tf.numpy_function(assignment_table, [costs, num_targets], tf.int32, stateful=False)
        return tf.ensure_shape(table, logits.shape[:2])

    def layer_losses(self, logits, boxes, labels, target_boxes, num_targets) -> dict[str, tf.Tensor]:
        table = self.match(logits, boxes, labels, target_boxes, num_targets)
        matched = table >= 0
        safe = tf.maximum(table, 0)
        target_classes = tf.where(matched, tf.gather(labels, safe, batch_dims=1), self.num_classes)
        class_weights = tf.where(matched, 1.0, self.eos_coef)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target_classes, logits=logits)
        loss_ce = tf.reduce_sum(class_weights * nll) / tf.reduce_sum(class_weights)

        num_boxes = tf.maximum(tf.cast(tf.reduce_sum(num_targets), tf.float32), 1.0)
        src = tf.boolean_mask(boxes, matched)
        tgt = tf.boolean_mask(tf.gather(target_boxes, safe, batch_dims=1), matched)
        loss_bbox = tf.reduce_sum(tf.abs(src - tgt)) / num_boxes
        giou = generalized_box_iou(box_cxcywh_to_xyxy(src[:, None]), box_cxcywh_to_xyxy(tgt[:, None]))
        loss_giou = tf.reduce_sum(1.0 - giou) / num_boxes
        return {"loss_ce": loss_ce, "loss_bbox": loss_bbox, "loss_giou": loss_giou}

    def __call__(self, outputs, labels, target_boxes, num_targets) -> dict[str, tf.Tensor]:
        """Per-term losses of the last layer, `aux_<i>` terms of earlier layers, and the weighted `loss`."""
        labels = tf.cast(labels, tf.int32)
        num_targets = tf.cast(num_targets, tf.int32)
        losses = self.layer_losses(outputs["pred_logits"], outputs["pred_boxes"], labels, target_boxes, num_targets)
        total = self._weighted(losses)
        for i in range(outputs["aux_logits"].shape[0]):
            aux = self.layer_losses(
                outputs["aux_logits"][i], outputs["aux_boxes"][i], labels, target_boxes, num_targets
            )
            total += self._weighted(aux)
            losses.update({f"{k}_{i}": v for k, v in aux.items()})
        losses["loss"] = total
        return losses

    def _weighted(self, losses):
        return (
            self.weight_ce * losses["loss_ce"]
            + self.weight_bbox * losses["loss_bbox"]
            + self.weight_giou * losses["loss_giou"]
        )


def matched_iou(pred_boxes, target_boxes, table) -> tf.Tensor:
    """IoU of every matched (prediction, target) pair, flattened."""
    matched = table >= 0
    src = tf.boolean_mask(pred_boxes, matched)
    tgt = tf.boolean_mask(tf.gather(target_boxes, tf.maximum(table, 0), batch_dims=1), matched)
    iou, _ = box_iou(box_cxcywh_to_xyxy(src[:, None]), box_cxcywh_to_xyxy(tgt[:, None]))
    return ops.reshape(iou, (-1,))
