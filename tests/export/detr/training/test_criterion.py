"""The set loss against an independent numpy computation of the official SetCriterion."""

import numpy as np
from scipy.optimize import linear_sum_assignment

from export.detr.training.criterion import SetCriterion
from tests.export.detr.training.numpy_reference import numpy_cost, numpy_giou, random_case

NUM_CLASSES = 5


def _numpy_layer(logits, boxes, labels, targets, counts):
    """CE (weighted mean over every query of the batch, no-object weight 0.1), L1 and GIoU / num boxes."""
    num_boxes = counts.sum()
    classes, l1, giou = [], 0.0, 0.0
    for i, n in enumerate(counts):
        rows, cols = linear_sum_assignment(numpy_cost(logits[i], boxes[i], labels[i, :n], targets[i, :n]))
        tc = np.full(len(logits[i]), NUM_CLASSES)
        tc[rows] = labels[i, cols]
        classes.append(tc)
        l1 += np.abs(boxes[i, rows] - targets[i, cols]).sum()
        giou += sum(1 - numpy_giou(boxes[i, r], targets[i, c]) for r, c in zip(rows, cols))
    tc = np.concatenate(classes)
    flat = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
    logp = flat - np.log(np.exp(flat).sum(-1, keepdims=True))
    w = np.where(tc == NUM_CLASSES, 0.1, 1.0)
    ce = -(w * logp[np.arange(len(flat)), tc]).sum() / w.sum()
    return ce, l1 / num_boxes, giou / num_boxes


def test_loss_matches_numpy_reference_with_aux_layers():
    rng = np.random.default_rng(0)
    layers, queries, counts = 3, 6, np.array([3, 1])
    logits = np.stack([[random_case(rng, queries, 1, NUM_CLASSES)[0] for _ in counts] for _ in range(layers)])
    boxes = np.stack([[random_case(rng, queries, 1, NUM_CLASSES)[1] for _ in counts] for _ in range(layers)])
    labels = np.zeros((2, 3), np.int32)
    targets = np.tile(np.float32([0.5, 0.5, 1, 1]), (2, 3, 1))  # padding rows, ignored
    for i, n in enumerate(counts):
        _, _, labels[i, :n], targets[i, :n] = random_case(rng, queries, n, NUM_CLASSES)
    outputs = {"pred_logits": logits[-1], "pred_boxes": boxes[-1], "aux_logits": logits[:-1], "aux_boxes": boxes[:-1]}
    losses = SetCriterion(NUM_CLASSES)(outputs, labels, targets, counts)

    total = 0.0
    for layer in range(layers):
        ce, l1, giou = _numpy_layer(logits[layer], boxes[layer], labels, targets, counts)
        total += ce + 5 * l1 + 2 * giou
        suffix = "" if layer == layers - 1 else f"_{layer}"
        np.testing.assert_allclose(float(losses["loss_ce" + suffix]), ce, rtol=1e-5)
        np.testing.assert_allclose(float(losses["loss_bbox" + suffix]), l1, rtol=1e-5)
        np.testing.assert_allclose(float(losses["loss_giou" + suffix]), giou, rtol=1e-5)
    np.testing.assert_allclose(float(losses["loss"]), total, rtol=1e-5)


def test_perfect_prediction_has_zero_box_loss():
    targets = np.float32([[[0.3, 0.4, 0.2, 0.2], [0.7, 0.6, 0.3, 0.1]]])
    boxes = np.concatenate([targets[:, ::-1], np.float32([[[0.5, 0.5, 0.5, 0.5]]])], axis=1)
    logits = np.full((1, 3, NUM_CLASSES + 1), -10.0, np.float32)
    logits[0, 0, 2] = logits[0, 1, 1] = logits[0, 2, NUM_CLASSES] = 10.0
    outputs = {"pred_logits": logits, "pred_boxes": boxes, "aux_logits": logits[None][:0], "aux_boxes": boxes[None][:0]}
    losses = SetCriterion(NUM_CLASSES)(outputs, np.int32([[1, 2]]), targets, np.int32([2]))
    assert float(losses["loss_bbox"]) < 1e-6 and float(losses["loss_giou"]) < 1e-6
    assert float(losses["loss_ce"]) < 1e-6
