"""DETR learns: `python -m export.detr.training` on a small synthetic scene set lowers the set loss and
the trained model's Hungarian-matched boxes fit the targets far better than chance."""

import numpy as np
import pytest

from export.detr.networks.box_ops import box_cxcywh_to_xyxy, box_iou
from export.detr.networks.detr import DETRConfig, build_detr
from export.detr.networks.frozen_batch_norm import FrozenBatchNorm
from export.detr.training.__main__ import main
from export.detr.training.criterion import SetCriterion
from export.detr.training.datasets import load_coco
from export.detr.training.engine import Trainer, mean_matched_iou
from export.detr.training.synthetic import CATEGORIES, write_dataset

TINY_FLAGS = [
    "--backbone-blocks",
    "1",
    "1",
    "1",
    "1",
    "--backbone-width",
    "16",
    "--hidden-dim",
    "64",
    "--nheads",
    "4",
    "--enc-layers",
    "1",
    "--dec-layers",
    "2",
    "--dim-feedforward",
    "128",
    "--num-queries",
    "8",
    "--dropout",
    "0",
]
TINY = DETRConfig(
    blocks=(1, 1, 1, 1),
    backbone_width=16,
    hidden_dim=64,
    num_heads=4,
    num_encoder_layers=1,
    num_decoder_layers=2,
    dim_feedforward=128,
    num_queries=8,
    dropout=0.0,
    num_classes=len(CATEGORIES) + 1,
)


def _constant_guess_iou(samples) -> float:
    """Chance level: mean IoU of every target with the dataset's mean box (the best constant guess)."""
    boxes = np.concatenate([s.boxes for s in samples])
    iou, _ = box_iou(box_cxcywh_to_xyxy(boxes), box_cxcywh_to_xyxy(boxes.mean(0, keepdims=True)))
    return float(np.mean(iou))


@pytest.mark.slow
def test_training_lowers_the_loss_and_finds_the_boxes(tmp_path, capsys):
    annotations = write_dataset(tmp_path, 32, 64, 64, seed=0, max_objects=2)
    output = tmp_path / "tiny.weights.h5"
    assert (
        main(
            [
                "--data",
                str(tmp_path / "images"),
                "--annotations",
                str(annotations),
                "--output",
                str(output),
                "--epochs",
                "30",
                "--batch-size",
                "8",
                "--lr",
                "2e-3",
                "--lr-backbone",
                "2e-3",
                "--clip-max-norm",
                "1.0",
                "--train-stem",
                "--min-size",
                "64",
                "--max-size",
                "64",
                "--seed",
                "0",
                *TINY_FLAGS,
            ]
        )
        == 0
    )
    history = [float(line.split()[-1]) for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(history) == 30
    # Multi-threaded CPU kernels make runs differ after the first epochs even with --seed (and with op
    # determinism on): over nine runs of 30-40 epochs the last five averaged 0.39-0.53 of the first
    # epoch's loss but 0.45-0.61 of the first three's, so the bound is set against the first epoch.
    assert np.mean(history[-5:]) < 0.6 * history[0], history
    assert all(np.mean(history[i : i + 10]) > np.mean(history[i + 10 : i + 20]) for i in (0, 10)), history

    samples, num_classes = load_coco(tmp_path / "images", annotations, 64, 64)
    assert num_classes == TINY.num_classes
    criterion = SetCriterion(num_classes)
    untrained = mean_matched_iou(build_detr(TINY), criterion, samples, 16, 2)
    trained_model = build_detr(TINY)
    trained_model.load_weights(output)
    trained = mean_matched_iou(trained_model, criterion, samples, 16, 2)
    chance = _constant_guess_iou(samples)
    assert trained > max(untrained, chance) + 0.2, (untrained, chance, trained)


def test_official_recipe_freezes_the_stem_and_layer1():
    model = build_detr(TINY)
    trainer = Trainer(model, SetCriterion(TINY.num_classes))
    trained = {id(v) for v in trainer.backbone_vars + trainer.other_vars}
    stem = model.backbone.conv1.kernel
    layer1 = model.backbone.stages[0][0].conv1.kernel
    layer2 = model.backbone.stages[1][0].conv1.kernel
    assert id(stem) not in trained and id(layer1) not in trained and id(layer2) in trained
    frozen_bn = [layer for layer in model.backbone._flatten_layers() if isinstance(layer, FrozenBatchNorm)]
    assert len(frozen_bn) == 1 + 3 * 4 + 4  # stem, 3 per bottleneck (1-1-1-1), 1 per downsample
    assert all(len(layer.weights) == 4 and not any(v.trainable for v in layer.weights) for layer in frozen_bn)
    everything = Trainer(model, SetCriterion(TINY.num_classes), train_stem=True)
    assert id(stem) in {id(v) for v in everything.backbone_vars}
    assert len(everything.backbone_vars) + len(everything.other_vars) == len(model.trainable_variables)
