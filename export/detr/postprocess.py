"""DETR outputs -> detections in input pixels (the official PostProcess, then threshold and top-k).

softmax over classes, drop the no-object column, score/label = max/argmax of the rest; boxes cxcywh ->
xyxy scaled by each image's original (w, h). No NMS. Detections are sorted by score, those with
score > threshold kept, at most max_detections, padded with zeros (label -1, name "").
"""

import tensorflow as tf

from export.detr.networks.box_ops import box_cxcywh_to_xyxy
from protocol.outputs import BOXES, LABEL_NAMES, LABELS, NUM_DETECTIONS, SCORES


def postprocess(
    pred_logits, pred_boxes, image_sizes, score_threshold, max_detections, label_names: tf.Tensor, row_limits=None
) -> dict[str, tf.Tensor]:
    """pred_logits [N, Q, C+1], pred_boxes [N, Q, 4], image_sizes [N, 2] (height, width) ->
    boxes [N, K, 4] (x0, y0, x1, y1), scores [N, K], labels [N, K] int32, label_names [N, K],
    num_detections [N] int32, with K = max_detections.

    `score_threshold` is a scalar or one threshold per image [N]; `row_limits` [N], if given, keeps at
    most that many detections in each image's K slots.
    """
    prob = tf.nn.softmax(pred_logits, axis=-1)[..., :-1]
    scores = tf.reduce_max(prob, axis=-1)
    labels = tf.argmax(prob, axis=-1, output_type=tf.int32)
    sizes = tf.cast(image_sizes, tf.float32)
    scale = tf.stack([sizes[:, 1], sizes[:, 0], sizes[:, 1], sizes[:, 0]], axis=-1)
    boxes = box_cxcywh_to_xyxy(pred_boxes) * scale[:, None, :]

    scores, order = tf.math.top_k(scores, k=max_detections)
    keep = scores > tf.reshape(tf.cast(score_threshold, tf.float32), [-1, 1])
    if row_limits is not None:
        keep = tf.logical_and(keep, tf.range(tf.shape(scores)[1])[None, :] < row_limits[:, None])
    labels = tf.where(keep, tf.gather(labels, order, batch_dims=1), -1)
    boxes = tf.where(keep[..., None], tf.gather(boxes, order, batch_dims=1), 0.0)
    return {
        BOXES: boxes,
        SCORES: tf.where(keep, scores, 0.0),
        LABELS: labels,
        LABEL_NAMES: tf.where(keep, tf.gather(label_names, tf.maximum(labels, 0)), ""),
        NUM_DETECTIONS: tf.reduce_sum(tf.cast(keep, tf.int32), axis=-1),
    }
