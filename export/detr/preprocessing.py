"""DETR's evaluation preprocessing in the graph: resize (short side, long-side cap), normalise, pad+mask."""

import tensorflow as tf

from export.signatures.image_options import DEFAULT_MAX_IMAGE_PIXELS
from export.signatures.images import decode_rgb, normalize


def resized_size(height: tf.Tensor, width: tf.Tensor, min_size: int, max_size: int) -> tf.Tensor:
    """(new_h, new_w) as datasets/transforms.py get_size_with_aspect_ratio computes it (int32 [2])."""
    h, w = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    short, long = tf.minimum(h, w), tf.maximum(h, w)
    size = tf.where(long / short * min_size > max_size, tf.round(max_size * short / long), float(min_size))
    new_h = tf.where(w < h, tf.floor(size * h / w), size)
    new_w = tf.where(w < h, size, tf.floor(size * w / h))
    keep = tf.logical_or(tf.logical_and(w <= h, tf.equal(w, size)), tf.logical_and(h <= w, tf.equal(h, size)))
    return tf.cast(tf.where(keep, tf.stack([h, w]), tf.stack([new_h, new_w])), tf.int32)


def resized_sizes(sizes: tf.Tensor, min_size: int, max_size: int) -> tf.Tensor:
    """`resized_size` of each original (h, w) in sizes [N, 2]: each image's extent in the padded batch."""
    return tf.map_fn(lambda size: resized_size(size[0], size[1], min_size, max_size), tf.cast(sizes, tf.int32))


def resize_and_normalize(image: tf.Tensor, min_size: int, max_size: int) -> tf.Tensor:
    """Decoded RGB [h, w, 3] -> normalised float32 at DETR's evaluation size (bilinear, antialiased)."""
    shape = tf.shape(image)[:2]
    new = resized_size(shape[0], shape[1], min_size, max_size)
    pixels = tf.image.resize(tf.cast(image, tf.float32), new, method="bilinear", antialias=True)
    return normalize(tf.clip_by_value(pixels, 0.0, 255.0), "imagenet")


def pad_batch(images: tf.TensorArray, shapes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Zero-pad normalised [h, w, 3] images (shapes [N, 2]) to the largest h and w; mask True on padding."""
    height, width = tf.reduce_max(shapes[:, 0]), tf.reduce_max(shapes[:, 1])

    def pad(i):
        image = images.read(i)
        h, w = shapes[i, 0], shapes[i, 1]
        padded = tf.pad(image, [[0, height - h], [0, width - w], [0, 0]])
        mask = tf.pad(tf.zeros([h, w], tf.bool), [[0, height - h], [0, width - w]], constant_values=True)
        return padded, mask

    return tf.map_fn(pad, tf.range(tf.shape(shapes)[0]), fn_output_signature=(tf.float32, tf.bool))


def preprocess_encoded(encoded: tf.Tensor, min_size: int, max_size: int, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS):
    """Batch of encoded images -> (pixels [N, H, W, 3], mask [N, H, W], original sizes [N, 2] (h, w)).

    Images over ``max_pixels`` (by their header) are refused before decoding (InvalidArgumentError).
    """
    count = tf.shape(encoded)[0]
    tf.debugging.assert_positive(count, message="images must hold at least one image")
    resized = tf.TensorArray(tf.float32, size=count, infer_shape=False, element_shape=tf.TensorShape([None, None, 3]))
    sizes = tf.TensorArray(tf.int32, size=count)
    new_sizes = tf.TensorArray(tf.int32, size=count)

    def step(i, resized, sizes, new_sizes):
        image = decode_rgb(encoded[i], max_pixels)
        pixels = resize_and_normalize(image, min_size, max_size)
        return (
            i + 1,
            resized.write(i, pixels),
            sizes.write(i, tf.shape(image)[:2]),
            new_sizes.write(i, tf.shape(pixels)[:2]),
        )

    _, resized, sizes, new_sizes = tf.while_loop(
        lambda i, *_: i < count, step, (tf.constant(0), resized, sizes, new_sizes)
    )
    pixels, mask = pad_batch(resized, new_sizes.stack())
    return pixels, mask, sizes.stack()
