"""Mask-head training with the detector frozen: the COCO panoptic loader, the frozen weights, and the CLI, whose
mask loss falls in a few steps. (How far a longer run gets: `python -m benchmarks training --model detr-masks`.)"""

import json

import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F

from export.detr.exporter import load_weights
from export.detr.networks.box_ops import box_cxcywh_to_xyxy
from export.detr.networks.detr import build_detr
from export.detr.networks.segmentation import build_detr_segm
from export.detr.training.criterion import SetCriterion
from export.detr.training.synthetic import (
    render_scene_with_masks,
    synthetic_detr_config,
    write_panoptic_dataset,
)
from export.detr.training.train_masks import MaskTrainer, collate_masks, load_coco_panoptic, main

TINY = synthetic_detr_config(hidden_dim=128, num_heads=8)
EPOCHS = 12
TINY_FLAGS = [
    "--backbone-blocks",
    "1",
    "1",
    "1",
    "1",
    "--backbone-width",
    "16",
    "--hidden-dim",
    "128",
    "--nheads",
    "8",
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


def _paths(directory, annotations):
    return [
        "--data",
        str(directory / "images"),
        "--panoptic",
        str(directory / "panoptic"),
        "--annotations",
        str(annotations),
    ]


def test_loader_reads_segments_as_the_official_coco_panoptic_dataset(tmp_path):
    annotations = write_panoptic_dataset(tmp_path, 3, 60, 90, seed=1, max_objects=3)
    samples, num_classes = load_coco_panoptic(tmp_path / "images", tmp_path / "panoptic", annotations, 64, 128)
    assert num_classes == 4 and len(samples) == 3
    rng = np.random.default_rng(1)
    written = json.loads(annotations.read_text())["annotations"]
    for sample, annotation in zip(samples, written):
        _, objects, masks = render_scene_with_masks(rng, 60, 90, 3)
        visible = [(category, mask) for (category, _), mask in zip(objects, masks) if mask.any()]
        assert sample.labels.tolist() == [category for category, _ in visible]
        assert [s["area"] for s in annotation["segments_info"]] == [int(mask.sum()) for _, mask in visible]
        original = torch.from_numpy(np.stack([mask for _, mask in visible])).float()
        # the official transform: nearest resize to the new size (64x96), then > 0.5
        expected = F.interpolate(original[:, None], size=(64, 96), mode="nearest")[:, 0] > 0.5
        np.testing.assert_array_equal(sample.masks, expected.numpy())
        assert sample.pixels.shape == (64, 96, 3)
        for box, (_, mask) in zip(np.asarray(box_cxcywh_to_xyxy(sample.boxes)), visible):
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))  # official masks_to_boxes
            np.testing.assert_allclose(box * [90, 60, 90, 60], [cols[0], rows[0], cols[-1], rows[-1]], atol=1e-4)


def test_only_the_attention_map_and_the_mask_head_learn(tmp_path):
    annotations = write_panoptic_dataset(tmp_path, 4, 64, 64, seed=2, max_objects=2)
    samples, _ = load_coco_panoptic(tmp_path / "images", tmp_path / "panoptic", annotations, 64, 64)
    model = build_detr_segm(TINY)
    detector_before = [w.copy() for w in model.detr.get_weights()]
    head = model.bbox_attention.weights + model.mask_head.weights
    head_before = [w.numpy().copy() for w in head]
    trainer = MaskTrainer(model, SetCriterion(TINY.num_classes), lr=1e-2)
    assert {id(v) for v in trainer.variables} == {id(v) for v in head}
    tf.config.run_functions_eagerly(True)  # one step: tracing would cost more than it (the CLI test traces)
    try:
        losses = trainer.step(*collate_masks(samples, 2))
    finally:
        tf.config.run_functions_eagerly(False)
    assert float(losses["loss"]) > 0
    for before, after in zip(detector_before, model.detr.get_weights()):
        np.testing.assert_array_equal(after, before)
    assert all(not np.array_equal(before, after.numpy()) for before, after in zip(head_before, head) if after.trainable)


def test_cli_needs_the_trained_detector_lowers_the_mask_loss_and_writes_what_the_exporter_reads(tmp_path, capsys):
    """A few steps on one batch of four scenes: the mask loss falls, the detector comes out as it went in,
    and the weights file loads as `python -m export detr --panoptic --weights` loads it. How far a longer run
    gets (mask IoU well above chance) is `python -m benchmarks training --model detr-masks`."""
    annotations = write_panoptic_dataset(tmp_path, 4, 64, 64, seed=3, max_objects=2)
    with pytest.raises(SystemExit, match="give the trained detector"):
        main([*_paths(tmp_path, annotations), "--min-size", "64", "--max-size", "64", *TINY_FLAGS])
    detector = build_detr(TINY)
    detector.save_weights(tmp_path / "detr.weights.h5")
    output = tmp_path / "panoptic.weights.h5"
    assert (
        main(
            [
                *_paths(tmp_path, annotations),
                "--detr-weights",
                str(tmp_path / "detr.weights.h5"),
                "--output",
                str(output),
                "--epochs",
                str(EPOCHS),
                "--batch-size",
                "4",
                "--lr",
                "2e-3",
                "--clip-max-norm",
                "1.0",
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
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("mask IoU before") for line in lines)
    assert any(line.startswith("mask IoU after") for line in lines)
    history = [float(line.split()[-1]) for line in lines if line.startswith("epoch")]
    # One batch, so each epoch is one step on the same scenes: measured 0.72-0.82 of the first loss after
    # 12 steps (four initialisations of the detector and head), falling every step.
    assert len(history) == EPOCHS and np.mean(history[-3:]) < 0.9 * history[0], history
    model = build_detr_segm(TINY)
    assert load_weights(model, str(output), None, None) == "keras weights panoptic.weights.h5"
    for ours, given in zip(model.detr.get_weights(), detector.get_weights()):
        np.testing.assert_array_equal(ours, given)  # the detector went in and came out frozen
