"""Nearest-neighbour resizing exactly as PyTorch's `F.interpolate(mode="nearest")` computes it.

DETR resizes its padding mask to each feature map and the mask head upsamples between FPN levels
this way; `tf.image.resize` uses other sample positions, so the indices are computed here.
"""

from keras import ops


def nearest_indices(out_size, in_size):
    """Source index of every output position: floor(dst * (in / out)) in float32, clipped to in - 1."""
    scale = ops.cast(in_size, "float32") / ops.cast(out_size, "float32")
    index = ops.cast(ops.floor(ops.cast(ops.arange(out_size), "float32") * scale), "int32")
    return ops.minimum(index, in_size - 1)


def resize_nearest(x, height, width):
    """Resize axes 1 and 2 of x ([N, H, W, ...], any dtype) to (height, width)."""
    x = ops.take(x, nearest_indices(height, ops.shape(x)[1]), axis=1)
    return ops.take(x, nearest_indices(width, ops.shape(x)[2]), axis=2)
