"""Box conversions and (generalised) IoU, batched over leading axes (keras.ops; numpy in, tensors out)."""

from keras import ops


def box_cxcywh_to_xyxy(boxes):
    cx, cy, w, h = ops.unstack(boxes, 4, axis=-1)
    return ops.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=-1)


def box_xyxy_to_cxcywh(boxes):
    x0, y0, x1, y1 = ops.unstack(boxes, 4, axis=-1)
    return ops.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=-1)


def box_area(boxes):
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_iou(boxes1, boxes2):
    """Pairwise IoU and union of xyxy boxes: [..., N, 4] x [..., M, 4] -> ([..., N, M], [..., N, M])."""
    area1, area2 = box_area(boxes1), box_area(boxes2)
    lt = ops.maximum(boxes1[..., :, None, :2], boxes2[..., None, :, :2])
    rb = ops.minimum(boxes1[..., :, None, 2:], boxes2[..., None, :, 2:])
    wh = ops.maximum(rb - lt, 0.0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1[..., :, None] + area2[..., None, :] - inter
    return inter / union, union


def generalized_box_iou(boxes1, boxes2):
    """Pairwise GIoU (Rezatofighi et al. 2019) of xyxy boxes: IoU - (hull - union) / hull, in [-1, 1].

    Degenerate boxes (x1 < x0) are the caller's bug; like the official code this does not guard them.
    """
    iou, union = box_iou(boxes1, boxes2)
    lt = ops.minimum(boxes1[..., :, None, :2], boxes2[..., None, :, :2])
    rb = ops.maximum(boxes1[..., :, None, 2:], boxes2[..., None, :, 2:])
    wh = ops.maximum(rb - lt, 0.0)
    hull = wh[..., 0] * wh[..., 1]
    return iou - (hull - union) / hull
