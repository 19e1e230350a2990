"""COCO-format detection data for training: images resized as the serving graph does, normalised boxes."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from export.detr.networks.box_ops import box_xyxy_to_cxcywh
from export.detr.preprocessing import resize_and_normalize
from export.signatures.images import decode_rgb


@dataclass
class Sample:
    pixels: np.ndarray  # normalised float32 [h, w, 3]
    labels: np.ndarray  # int32 [T] category ids
    boxes: np.ndarray  # float32 [T, 4] normalised cxcywh


def load_coco(data_dir: str | Path, annotations: str | Path, min_size: int, max_size: int) -> tuple[list[Sample], int]:
    """Images resized like the evaluation transform; returns the samples and num_classes (max id + 1)."""
    coco = json.loads(Path(annotations).read_text())
    by_image: dict[int, list[dict]] = {}
    for annotation in coco["annotations"]:
        if not annotation.get("iscrowd", 0):
            by_image.setdefault(annotation["image_id"], []).append(annotation)
    samples = []
    for image in coco["images"]:
        # Decoded and resized by the same graph functions as the serving signature.
        rgb = decode_rgb(tf.io.read_file(str(Path(data_dir) / image["file_name"])))
        height, width = rgb.shape[:2]
        pixels = resize_and_normalize(rgb, min_size, max_size).numpy()
        objects = by_image.get(image["id"], [])
        xywh = np.array([a["bbox"] for a in objects], np.float32).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1) / [width, height, width, height]
        samples.append(
            Sample(
                pixels,
                np.array([a["category_id"] for a in objects], np.int32),
                np.asarray(box_xyxy_to_cxcywh(xyxy.astype(np.float32)), np.float32).reshape(-1, 4),
            )
        )
    num_classes = max(c["id"] for c in coco["categories"]) + 1
    return samples, num_classes


def collate(samples: list[Sample], max_targets: int):
    """Zero-pad images to the largest (mask True on padding) and targets to max_targets."""
    height = max(s.pixels.shape[0] for s in samples)
    width = max(s.pixels.shape[1] for s in samples)
    pixels = np.zeros((len(samples), height, width, 3), np.float32)
    mask = np.ones((len(samples), height, width), bool)
    labels = np.zeros((len(samples), max_targets), np.int32)
    boxes = np.tile(np.array([0.5, 0.5, 1.0, 1.0], np.float32), (len(samples), max_targets, 1))
    counts = np.array([len(s.labels) for s in samples], np.int32)
    for i, s in enumerate(samples):
        h, w = s.pixels.shape[:2]
        pixels[i, :h, :w], mask[i, :h, :w] = s.pixels, False
        labels[i, : counts[i]], boxes[i, : counts[i]] = s.labels, s.boxes
    return pixels, mask, labels, boxes, counts
