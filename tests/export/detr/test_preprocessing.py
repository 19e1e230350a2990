"""In-graph resize rule and padding against DETR's datasets/transforms.py arithmetic."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from export.detr.preprocessing import preprocess_encoded, resized_size
from export.detr.training.datasets import load_coco
from export.detr.training.synthetic import write_dataset


def detr_size(h: int, w: int, size: int, max_size: int) -> tuple[int, int]:
    """get_size_with_aspect_ratio from the official transforms, (w, h) in, (h, w) out."""
    min_original, max_original = float(min(w, h)), float(max(w, h))
    if max_original / min_original * size > max_size:
        size = round(max_size * min_original / max_original)
    if (w <= h and w == size) or (h <= w and h == size):
        return h, w
    if w < h:
        return int(size * h / w), size
    return size, int(size * w / h)


@pytest.mark.parametrize("size, max_size", [(800, 1333), (256, 384), (100, 100)])
def test_resize_rule_matches_the_official_transform(size, max_size):
    rng = np.random.default_rng(size)
    shapes = [(427, 640), (640, 427), (800, 1200), (1, 1000), (600, 800), (333, 333), (801, 1500)]
    shapes += [tuple(int(v) for v in rng.integers(1, 3000, 2)) for _ in range(200)]
    for h, w in shapes:
        assert tuple(resized_size(h, w, size, max_size).numpy()) == detr_size(h, w, size, max_size), (h, w)


def test_batch_is_padded_with_a_mask_and_original_sizes():
    images = []
    for h, w in [(60, 90), (90, 40)]:
        buffer = io.BytesIO()
        Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(buffer, format="PNG")
        images.append(buffer.getvalue())
    pixels, mask, sizes = preprocess_encoded(tf.constant(images), 64, 128)
    assert sizes.numpy().tolist() == [[60, 90], [90, 40]]
    # 60x90 -> 64x96; 90x40 -> 144x64 exceeds 128 -> size round(128*40/90)=57 -> 128x57 (official rule)
    assert pixels.shape == (2, 128, 96, 3) and mask.shape == (2, 128, 96)
    assert not mask[0, :64, :96].numpy().any() and mask[0, 64:].numpy().all()
    assert not mask[1, :128, :57].numpy().any() and mask[1, :, 57:].numpy().all()
    grey = (128 / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(pixels[0, 10, 10], grey, atol=1e-5)
    assert not pixels[0, 64:].numpy().any()


def test_training_loads_images_as_the_serving_graph_preprocesses_them(tmp_path):
    annotations = write_dataset(tmp_path, 2, 60, 90, seed=1)
    samples, _ = load_coco(tmp_path / "images", annotations, 64, 128)
    encoded = [(tmp_path / "images" / f"{i:06d}.png").read_bytes() for i in (1, 2)]
    pixels, mask, _ = preprocess_encoded(tf.constant(encoded), 64, 128)
    for sample, served, padding in zip(samples, pixels.numpy(), mask.numpy()):
        assert sample.pixels.shape == (64, 96, 3) and not padding.any()
        np.testing.assert_array_equal(sample.pixels, served)
