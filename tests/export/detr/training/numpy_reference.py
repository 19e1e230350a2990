"""The official matching cost written out from its definition in NumPy (loops, float64), and random cases for
it: the reference of the matcher and criterion tests."""

import numpy as np


def numpy_giou(pb, tb) -> float:
    """GIoU of two cxcywh boxes, from the definition."""
    p = np.array([pb[0] - pb[2] / 2, pb[1] - pb[3] / 2, pb[0] + pb[2] / 2, pb[1] + pb[3] / 2])
    g = np.array([tb[0] - tb[2] / 2, tb[1] - tb[3] / 2, tb[0] + tb[2] / 2, tb[1] + tb[3] / 2])
    iw = max(0.0, min(p[2], g[2]) - max(p[0], g[0]))
    ih = max(0.0, min(p[3], g[3]) - max(p[1], g[1]))
    union = pb[2] * pb[3] + tb[2] * tb[3] - iw * ih
    hull = (max(p[2], g[2]) - min(p[0], g[0])) * (max(p[3], g[3]) - min(p[1], g[1]))
    return iw * ih / union - (hull - union) / hull


def numpy_cost(logits, boxes, labels, targets):
    """Independent cost: -p(class) + 5 * L1 + 2 * -GIoU, loops, float64."""
    prob = np.exp(logits - logits.max(-1, keepdims=True))
    prob /= prob.sum(-1, keepdims=True)
    cost = np.zeros((len(boxes), len(targets)))
    for q, (pb, pl) in enumerate(zip(boxes, prob)):
        for t, (tb, tl) in enumerate(zip(targets, labels)):
            cost[q, t] = -pl[tl] + 5 * np.abs(pb - tb).sum() - 2 * numpy_giou(pb, tb)
    return cost


def random_case(rng, queries, targets, classes=5):
    logits = rng.normal(size=(queries, classes + 1)).astype(np.float32)
    boxes = np.concatenate([rng.uniform(0.2, 0.8, (queries, 2)), rng.uniform(0.05, 0.4, (queries, 2))], 1)
    tboxes = np.concatenate([rng.uniform(0.2, 0.8, (targets, 2)), rng.uniform(0.05, 0.4, (targets, 2))], 1)
    return logits, boxes.astype(np.float32), rng.integers(0, classes, targets), tboxes.astype(np.float32)
