"""Hungarian matching of predictions to ground-truth boxes (DETR's HungarianMatcher).

cost = cost_class * (-p[target class]) + cost_bbox * L1(cxcywh) + cost_giou * (-GIoU), solved per image
by scipy.optimize.linear_sum_assignment. The cost matrix is computed with keras.ops (batched, so it can
run inside a tf.function); only the assignment runs in numpy.
"""

from dataclasses import dataclass

import numpy as np
from keras import ops
from scipy.optimize import linear_sum_assignment

from export.detr.networks.box_ops import box_cxcywh_to_xyxy, generalized_box_iou


@dataclass(frozen=True)
class HungarianMatcher:
    cost_class: float = 1.0
    cost_bbox: float = 5.0
    cost_giou: float = 2.0

    def cost_matrix(self, pred_logits, pred_boxes, target_labels, target_boxes):
        """[N, Q, C+1], [N, Q, 4], int [N, T], [N, T, 4] -> [N, Q, T] (padded targets get finite junk)."""
        prob = ops.softmax(pred_logits, axis=-1)
        class_cost = -ops.take_along_axis(
            prob,
            ops.broadcast_to(target_labels[:, None, :], (*ops.shape(prob)[:2], ops.shape(target_labels)[1])),
            axis=2,
        )
        bbox_cost = ops.sum(ops.abs(pred_boxes[:, :, None, :] - target_boxes[:, None, :, :]), axis=-1)
        giou = generalized_box_iou(box_cxcywh_to_xyxy(pred_boxes), box_cxcywh_to_xyxy(target_boxes))
        return self.cost_bbox * bbox_cost + self.cost_class * class_cost - self.cost_giou * giou


def assign(costs: np.ndarray, num_targets: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per image, (query indices, target indices) of the minimum-cost one-to-one matching."""
    return [linear_sum_assignment(np.asarray(c)[:, :n]) for c, n in zip(costs, num_targets)]


def assignment_table(costs: np.ndarray, num_targets: np.ndarray) -> np.ndarray:
    """[N, Q] int32: the matched target index of each query, -1 for unmatched ("no object") queries."""
    costs = np.asarray(costs)
    table = np.full(costs.shape[:2], -1, np.int32)
    for image, (queries, targets) in enumerate(assign(costs, np.asarray(num_targets))):
        table[image, queries] = targets
    return table
