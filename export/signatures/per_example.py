"""Signature inputs that are a setting (a threshold, ψ, a crossover) but may be given once per example.

TF Serving's batcher concatenates requests along dimension 0 and refuses a rank-0 input outright
("Batching Run() input tensors must have at least one dimension"; the official server's warmup runs
through the batcher too, so a scalar in a warmup record fails the model's load). A setting declared
with an unknown rank accepts both forms: a scalar applies to every row, as before, and a vector of
one value per row (or of one value) is what batching can merge. So existing clients keep working and
batching applies to every signature.
"""

from __future__ import annotations

import tensorflow as tf


def per_example_spec(dtype: tf.DType, name: str) -> tf.TensorSpec:
    """The input spec of a setting: any rank, so a scalar or one value per row."""
    return tf.TensorSpec(None, dtype, name=name)


def per_example(value: tf.Tensor, rows: tf.Tensor, name: str) -> tf.Tensor:
    """`value` as one value per row, shape [rows]: a scalar or a single value is repeated, a vector of
    `rows` values is taken as it is; any other size is an InvalidArgument naming the input."""
    flat = tf.reshape(value, [-1])
    size = tf.size(flat, out_type=rows.dtype)
    check = tf.debugging.Assert(
        tf.logical_or(tf.equal(size, 1), tf.equal(size, rows)),
        [f"{name} must be a scalar or have one value per example; values:", size, "examples:", rows],
    )
    with tf.control_dependencies([check]):
        return tf.broadcast_to(flat, tf.reshape(rows, [1]))
