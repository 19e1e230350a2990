"""In-graph image decoding shared by the image signatures: size check, decode, crop and resize, normalise.

Every bytes-in signature decodes with ``decode_rgb``, which reads the image size from the header
(``export.signatures.image_header``) and refuses, with INVALID_ARGUMENT, data in no supported format and images
over the export's pixel limit before ``tf.io.decode_image`` allocates anything.
"""

import numpy as np
import tensorflow as tf

from export.signatures.image_header import UNSUPPORTED, header_size
from export.signatures.image_options import DEFAULT_MAX_IMAGE_PIXELS, IMAGENET_MEAN, IMAGENET_STD, NORMALIZATIONS


def check_image_size(encoded: tf.Tensor, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> tf.Operation:
    """An assertion (InvalidArgumentError when it fails) that ``encoded`` is a supported image within ``max_pixels``."""
    height, width, pixels = header_size(encoded)
    supported = tf.debugging.Assert(
        pixels != UNSUPPORTED, ["unsupported or unreadable image: JPEG, PNG, GIF, BMP or WebP required"]
    )
    with tf.control_dependencies([supported]):
        return tf.debugging.Assert(
            pixels <= max_pixels,
            [
                tf.strings.format(
                    "image too large: {}x{} pixels (width x height, {} to decode); this model accepts at most {} "
                    "(--max-image-pixels at export)",
                    (width, height, pixels, max_pixels),
                )
            ],
        )


def decode_rgb(encoded: tf.Tensor, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, channels: int = 3) -> tf.Tensor:
    """Decode one JPEG, PNG, GIF, BMP or WebP string to uint8 ``[H, W, channels]`` (3: RGB, 1: grey).

    Grey images are expanded to RGB, alpha is dropped and only the first GIF frame is used. Data
    in another format, corrupt data and images over ``max_pixels`` raise ``InvalidArgumentError``
    (HTTP 400 / INVALID_ARGUMENT from a model server).
    """
    with tf.control_dependencies([check_image_size(encoded, max_pixels)]):
        image = tf.io.decode_image(encoded, channels=channels, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, channels])
    return image


def center_crop_and_resize(image: tf.Tensor, size: int | tuple[int, int], crop_padding: int = 32) -> tf.Tensor:
    """Crop the centre of the image and resize it (bicubic) to ``size`` (an int for a square, or (height, width)).

    The crop has the output's aspect ratio and covers ``s/(s+crop_padding)`` of the largest such
    region, ``s`` the output's short side: for a square this is the evaluation preprocessing of
    the reference EfficientNet code. Returns float32 pixels clipped to ``[0, 255]``.
    """
    out_height, out_width = (size, size) if isinstance(size, int) else size
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    short = min(out_height, out_width)
    fraction = short / (short + crop_padding)
    if out_height == out_width:
        crop_height = tf.cast(fraction * tf.cast(tf.minimum(height, width), tf.float32), tf.int32)
        crop_width = crop_height = tf.maximum(crop_height, 1)
    else:
        aspect = out_width / out_height
        fit = tf.minimum(tf.cast(height, tf.float32), tf.cast(width, tf.float32) / aspect)
        crop_height = tf.maximum(tf.cast(fraction * fit, tf.int32), 1)
        crop_width = tf.maximum(tf.cast(tf.round(tf.cast(crop_height, tf.float32) * aspect), tf.int32), 1)
    top = (height - crop_height + 1) // 2
    left = (width - crop_width + 1) // 2
    cropped = image[top : top + crop_height, left : left + crop_width]
    resized = tf.image.resize(tf.cast(cropped, tf.float32), [out_height, out_width], method="bicubic")
    return tf.clip_by_value(resized, 0.0, 255.0)


def normalize(pixels: tf.Tensor, mode: str) -> tf.Tensor:
    """Float 0-255 RGB → what a model expects: ``none`` (unchanged), ``unit`` [0, 1], ``symmetric``
    [-1, 1], ``imagenet`` (x/255 - mean) / std."""
    pixels = tf.cast(pixels, tf.float32)
    if mode == "none":
        return pixels
    if mode == "unit":
        return pixels / 255.0
    if mode == "symmetric":
        return pixels / 127.5 - 1.0
    if mode == "imagenet":
        return (pixels / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    raise ValueError(f"unknown normalisation {mode!r}; one of {NORMALIZATIONS}")


def example_jpeg(height: int = 256, width: int = 256) -> bytes:
    """A deterministic colourful picture, JPEG-encoded: the example input of image signatures."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y, x = y / height, x / width
    image = np.stack([x, y, 1.0 - (x + y) / 2], axis=-1) * 255
    return tf.io.encode_jpeg(tf.constant(image.astype(np.uint8)), quality=95).numpy()
