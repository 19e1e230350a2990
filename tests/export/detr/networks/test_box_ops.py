"""Box conversions and GIoU: properties and hand-computed values."""

import numpy as np

from export.detr.networks.box_ops import (
    box_cxcywh_to_xyxy,
    box_iou,
    box_xyxy_to_cxcywh,
    generalized_box_iou,
)


def _random_boxes(rng, n):
    xy = rng.uniform(0, 10, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(0.1, 5, (n, 2))], axis=1).astype(np.float32)


def test_conversions_invert_each_other():
    boxes = _random_boxes(np.random.default_rng(0), 20)
    np.testing.assert_allclose(box_cxcywh_to_xyxy(box_xyxy_to_cxcywh(boxes)), boxes, atol=1e-5)
    np.testing.assert_allclose(box_xyxy_to_cxcywh(np.array([[0.0, 2.0, 4.0, 3.0]])), [[2.0, 2.5, 4.0, 1.0]])


def test_giou_hand_computed():
    a = np.array([[0.0, 0.0, 2.0, 2.0]], np.float32)
    b = np.array([[1.0, 1.0, 3.0, 3.0], [3.0, 0.0, 4.0, 1.0]], np.float32)
    # overlap 1, union 7, hull 9: 1/7 - 2/9 ; disjoint: iou 0, union 5, hull 4*2=8: -(8-5)/8
    np.testing.assert_allclose(generalized_box_iou(a, b), [[1 / 7 - 2 / 9, -3 / 8]], atol=1e-6)
    np.testing.assert_allclose(box_iou(a, b)[0], [[1 / 7, 0.0]], atol=1e-6)


def test_giou_properties():
    rng = np.random.default_rng(1)
    a, b = _random_boxes(rng, 30), _random_boxes(rng, 40)
    giou = np.asarray(generalized_box_iou(a, b))
    iou = np.asarray(box_iou(a, b)[0])
    assert np.all(giou <= iou + 1e-6) and np.all(giou >= -1) and np.all(giou <= 1)
    np.testing.assert_allclose(giou, np.asarray(generalized_box_iou(b, a)).T, atol=1e-6)  # symmetric
    np.testing.assert_allclose(np.diag(np.asarray(generalized_box_iou(a, a))), 1.0, atol=1e-6)  # identity
    far = generalized_box_iou(np.array([[0, 0, 1, 1.0]]), np.array([[1000, 1000, 1001, 1001.0]]))
    assert -1 < float(far[0, 0]) < -0.99  # tends to -1 as disjoint boxes move apart
    # scale invariance
    np.testing.assert_allclose(generalized_box_iou(a * 7, b * 7), giou, atol=1e-5)
