"""Mask losses against the official formulas computed with PyTorch (focal, DICE, bilinear upsampling)."""

import numpy as np
import torch
import torch.nn.functional as F

from export.detr.training.mask_losses import dice_loss, mask_losses, sigmoid_focal_loss


def torch_dice(logits, targets, num_boxes):
    p = logits.sigmoid().flatten(1)
    return (1 - (2 * (p * targets).sum(1) + 1) / (p.sum(-1) + targets.sum(-1) + 1)).sum() / num_boxes


def torch_focal(logits, targets, num_boxes, alpha=0.25, gamma=2):
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = (alpha * targets + (1 - alpha) * (1 - targets)) * ce * (1 - p_t) ** gamma
    return loss.mean(1).sum() / num_boxes


def test_focal_and_dice_equal_the_official_formulas():
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(5, 300)) * 3).astype(np.float32)
    targets = (rng.random((5, 300)) > 0.7).astype(np.float32)
    t_logits, t_targets = torch.from_numpy(logits), torch.from_numpy(targets)
    np.testing.assert_allclose(
        float(dice_loss(logits, targets, 3.0)), float(torch_dice(t_logits, t_targets, 3.0)), rtol=1e-5
    )
    np.testing.assert_allclose(
        float(sigmoid_focal_loss(logits, targets, 3.0)), float(torch_focal(t_logits, t_targets, 3.0)), rtol=1e-5
    )
    perfect = np.where(targets > 0, 20.0, -20.0).astype(np.float32)
    assert float(dice_loss(perfect, targets, 1.0)) < 1e-6 and float(sigmoid_focal_loss(perfect, targets, 1.0)) < 1e-9


def test_matched_masks_are_upsampled_to_the_targets_and_normalised_by_the_target_count():
    """Image 0 has 2 targets (queries 2 and 0), image 1 has 1 (query 1); predictions at 5x6 -> 20x24."""
    rng = np.random.default_rng(1)
    pred = rng.normal(size=(2, 3, 5, 6)).astype(np.float32)
    targets = (rng.random((2, 2, 20, 24)) > 0.5).astype(np.float32)
    targets[1, 1] = 0  # padding target of image 1
    table = np.int32([[1, -1, 0], [-1, 0, -1]])
    losses = mask_losses(pred, targets, table, np.int32([2, 1]))
    src = torch.from_numpy(np.stack([pred[0, 0], pred[0, 2], pred[1, 1]]))
    tgt = torch.from_numpy(np.stack([targets[0, 1], targets[0, 0], targets[1, 0]])).flatten(1)
    up = F.interpolate(src[:, None], size=(20, 24), mode="bilinear", align_corners=False)[:, 0].flatten(1)
    np.testing.assert_allclose(float(losses["loss_mask"]), float(torch_focal(up, tgt, 3.0)), rtol=1e-5)
    np.testing.assert_allclose(float(losses["loss_dice"]), float(torch_dice(up, tgt, 3.0)), rtol=1e-5)
