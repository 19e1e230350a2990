"""The COCO panoptic PNG convention (panopticapi's id2rgb / rgb2id): segment id = R + 256 G + 256^2 B."""
import tensorflow as tf


def id_to_rgb(ids) -> tf.Tensor:
    """Segment ids [...] (integers < 2^24) -> uint8 [..., 3]."""
    ids = tf.cast(ids, tf.int32)
    return tf.cast(tf.stack([ids % 256, ids // 256 % 256, ids // 65536 % 256], axis=-1), tf.uint8)


def rgb_to_id(rgb) -> tf.Tensor:
    """uint8 [..., 3] -> segment ids int32 [...]."""
    rgb = tf.cast(rgb, tf.int32)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
