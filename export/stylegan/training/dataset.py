"""Training data: the bundled faces, mirror augmentation, and reals faded to the current level of detail.

Data: the 100 faces of scikit-image `lfw_subset()` (grey 25×25, replicated to RGB, resized), split into
training and held-out images.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def _box_down(x: np.ndarray, factor: int) -> np.ndarray:
    n, h, w, c = x.shape
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def _nearest_up(x: np.ndarray, factor: int) -> np.ndarray:
    return x.repeat(factor, axis=1).repeat(factor, axis=2)


def process_reals(images: np.ndarray, lod: float) -> np.ndarray:
    """Reals as the networks see them at `lod` (training_loop.process_reals): box-downscaled to the
    current level 2^floor(lod), faded toward half that resolution by frac(lod), nearest-upscaled back."""
    if lod <= 0:
        return images
    factor = 2 ** int(np.floor(lod))
    current = _box_down(images, factor) if factor > 1 else images
    current = current + (_nearest_up(_box_down(current, 2), 2) - current) * (lod - np.floor(lod))
    return (_nearest_up(current, factor) if factor > 1 else current).astype(images.dtype)


def load_faces(resolution: int, heldout: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The lfw_subset faces as RGB float32 in [−1, 1] at `resolution`², split (train, held-out)."""
    from skimage import data

    faces = data.lfw_subset()[:100].astype(np.float32)  # the first 100 images are faces
    faces = tf.image.resize(faces[..., None], [resolution, resolution], antialias=True).numpy()
    faces = np.repeat(np.clip(faces, 0.0, 1.0) * 2.0 - 1.0, 3, axis=-1)
    order = np.random.default_rng(seed).permutation(len(faces))
    return faces[order[heldout:]], faces[order[:heldout]]


def mirrored_batch(images: np.ndarray, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """A random minibatch, each image flipped left-right with probability ½ (mirror augmentation)."""
    batch = images[rng.integers(0, len(images), batch_size)]
    flip = rng.random(batch_size) < 0.5
    return np.where(flip[:, None, None, None], batch[:, :, ::-1], batch)
