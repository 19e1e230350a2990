"""In-graph image decoding shared by the image models' serving signatures, and their example picture."""

import numpy as np
import tensorflow as tf


def decode_rgb(encoded: tf.Tensor) -> tf.Tensor:
    """Decode one JPEG, PNG, GIF or BMP string to uint8 ``[H, W, 3]``.

    Grey images are expanded to RGB, alpha is dropped and only the first GIF frame is used.
    Corrupt or unsupported data raises ``InvalidArgumentError`` (HTTP 400 from a model server).
    """
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    return image


def center_crop_and_resize(image: tf.Tensor, size: int, crop_padding: int = 32) -> tf.Tensor:
    """Crop the centre ``size/(size+crop_padding)`` of the short side and resize to ``size``².

    This is the evaluation preprocessing of the reference EfficientNet code (bicubic resize);
    returns float32 pixels clipped to ``[0, 255]``.
    """
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    fraction = size / (size + crop_padding)
    crop = tf.cast(fraction * tf.cast(tf.minimum(height, width), tf.float32), tf.int32)
    crop = tf.maximum(crop, 1)
    top = (height - crop + 1) // 2
    left = (width - crop + 1) // 2
    cropped = image[top:top + crop, left:left + crop]
    resized = tf.image.resize(tf.cast(cropped, tf.float32), [size, size], method="bicubic")
    return tf.clip_by_value(resized, 0.0, 255.0)


def example_jpeg(height: int = 256, width: int = 256) -> bytes:
    """A deterministic colourful picture, JPEG-encoded: the example input of image signatures."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y, x = y / height, x / width
    image = np.stack([x, y, 1.0 - (x + y) / 2], axis=-1) * 255
    return tf.io.encode_jpeg(tf.constant(image.astype(np.uint8)), quality=95).numpy()
