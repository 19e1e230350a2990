"""What the task helpers return: detections, panoptic segments; and where images come from.

Its own module so that the helpers (``clients.tasks``) and the pictures (``clients.draw``) both import
it and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from PIL import Image

ImageSource = str | PathLike | bytes


@dataclass(frozen=True)
class Detection:
    """One detected object: box (x0, y0, x1, y1) in pixels of the original image."""

    box: tuple[float, float, float, float]
    score: float
    label: str


@dataclass(frozen=True)
class Segment:
    """One segment of a panoptic segmentation: `id` is its value in the segment map (and the PNG)."""

    id: int
    category_id: int
    category_name: str
    isthing: bool
    area: int  # pixels, at the size of the image sent
    score: float


@dataclass(frozen=True)
class Segmentation:
    """A panoptic segmentation of one image.

    `segment_map` holds each pixel's segment id (int32, the image's height x width; -1 everywhere when
    there is no segment); `png` is the served COCO panoptic PNG as is (id = R + 256 G + 256^2 B, for
    panopticapi's tools); `picture` is the image with its segments coloured over it.
    """

    segments: list[Segment]
    segment_map: np.ndarray
    png: bytes
    picture: Image.Image


def read_image_bytes(image: ImageSource) -> bytes:
    """Encoded image bytes from a path or the bytes themselves."""
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    return Path(image).read_bytes()
