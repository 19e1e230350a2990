"""The panoptic mask losses (the official loss_masks): sigmoid focal loss and DICE on the masks of the
Hungarian-matched queries, each summed and divided by the number of target boxes."""

import tensorflow as tf

FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 2.0


def dice_loss(logits: tf.Tensor, targets: tf.Tensor, num_boxes) -> tf.Tensor:
    """logits, targets [M, P] -> sum over masks of 1 - (2 |p t| + 1) / (|p| + |t| + 1), / num_boxes."""
    prob = tf.sigmoid(logits)
    numerator = 2.0 * tf.reduce_sum(prob * targets, axis=1)
    denominator = tf.reduce_sum(prob, axis=1) + tf.reduce_sum(targets, axis=1)
    return tf.reduce_sum(1.0 - (numerator + 1.0) / (denominator + 1.0)) / num_boxes


def sigmoid_focal_loss(
    logits: tf.Tensor, targets: tf.Tensor, num_boxes, alpha: float = FOCAL_ALPHA, gamma: float = FOCAL_GAMMA
) -> tf.Tensor:
    """RetinaNet's focal loss per pixel, alpha-weighted, averaged over pixels, summed over masks, / num_boxes."""
    prob = tf.sigmoid(logits)
    cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
    p_t = prob * targets + (1.0 - prob) * (1.0 - targets)
    loss = cross_entropy * (1.0 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1.0 - alpha) * (1.0 - targets)) * loss
    return tf.reduce_sum(tf.reduce_mean(loss, axis=1)) / num_boxes


def matched_masks(pred_masks: tf.Tensor, target_masks: tf.Tensor, table: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """pred_masks [N, Q, h, w] logits, target_masks [N, T, H, W] (padded), table [N, Q] (matched target or
    -1) -> (matched predictions upsampled bilinearly to H x W, their targets), both [M, H, W]."""
    matched = table >= 0
    predictions = tf.boolean_mask(pred_masks, matched)
    targets = tf.boolean_mask(tf.gather(target_masks, tf.maximum(table, 0), batch_dims=1), matched)
    predictions = tf.image.resize(predictions[..., None], tf.shape(targets)[1:3], method="bilinear")[..., 0]
    return predictions, tf.cast(targets, predictions.dtype)


def mask_losses(pred_masks: tf.Tensor, target_masks: tf.Tensor, table: tf.Tensor, num_targets) -> dict[str, tf.Tensor]:
    """{"loss_mask": focal, "loss_dice": DICE} of the matched queries, normalised by the target count (>= 1)."""
    predictions, targets = matched_masks(pred_masks, target_masks, table)
    count = tf.shape(predictions)[0]
    predictions, targets = tf.reshape(predictions, [count, -1]), tf.reshape(targets, [count, -1])
    num_boxes = tf.maximum(tf.cast(tf.reduce_sum(num_targets), predictions.dtype), 1.0)
    return {
        "loss_mask": sigmoid_focal_loss(predictions, targets, num_boxes),
        "loss_dice": dice_loss(predictions, targets, num_boxes),
    }
