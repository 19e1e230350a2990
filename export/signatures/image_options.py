"""Options every bytes-in image signature shares, without TensorFlow (the CLI adds them as flags).

The pixel limit: decoding allocates height × width × 3 bytes and the resize after it several times
more, whatever the encoded size, so an image signature refuses images over ``max_image_pixels``
(read from the header, in the graph) before decoding. 50 MP fits the photos of today's phones and
most cameras; raise it at export for scans or panoramas.
"""

from __future__ import annotations

import argparse

from export.errors import ExportError

DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZATIONS = ("none", "unit", "symmetric", "imagenet")  # see export.signatures.images.normalize


def add_max_image_pixels_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-image-pixels",
        type=int,
        default=DEFAULT_MAX_IMAGE_PIXELS,
        help="image signatures refuse (INVALID_ARGUMENT) images whose header declares more pixels "
        f"than this, before decoding (default {DEFAULT_MAX_IMAGE_PIXELS:,})",
    )


def check_max_image_pixels(value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ExportError(f"--max-image-pixels must be a positive integer, got {value!r}")
