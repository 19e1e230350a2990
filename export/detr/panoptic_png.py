"""The COCO panoptic PNG convention in the graph: segment id = R + 256 G + 256^2 B (the rule lives in
`protocol.panoptic`, which the clients read the PNG with)."""

import tensorflow as tf

from protocol.panoptic import channels_to_id, id_to_channels


def id_to_rgb(ids) -> tf.Tensor:
    """Segment ids [...] (integers < 2^24) -> uint8 [..., 3]."""
    return tf.cast(tf.stack(id_to_channels(tf.cast(ids, tf.int32)), axis=-1), tf.uint8)


def rgb_to_id(rgb) -> tf.Tensor:
    """uint8 [..., 3] -> segment ids int32 [...]."""
    rgb = tf.cast(rgb, tf.int32)
    return channels_to_id(rgb[..., 0], rgb[..., 1], rgb[..., 2])
