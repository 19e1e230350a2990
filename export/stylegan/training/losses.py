"""StyleGAN losses: non-saturating logistic G loss, logistic D loss with R1 penalty (training/loss.py)."""

from __future__ import annotations

import keras
import tensorflow as tf


def generator_loss(fake_scores: tf.Tensor) -> tf.Tensor:
    """Per-sample −log σ(D(G(z))) = softplus(−D(G(z)))."""
    return tf.nn.softplus(-fake_scores[:, 0])


def discriminator_loss(real_scores: tf.Tensor, fake_scores: tf.Tensor) -> tf.Tensor:
    """Per-sample −log(1 − σ(D(fake))) − log σ(D(real))."""
    return tf.nn.softplus(fake_scores[:, 0]) + tf.nn.softplus(-real_scores[:, 0])


def r1_penalty(discriminator: keras.Model, reals: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(real scores, per-sample ‖∇ₓ D(x)‖² on real images). The loss adds penalty · γ/2 (γ = 10)."""
    with tf.GradientTape() as tape:
        tape.watch(reals)
        real_scores = discriminator(reals, training=True)
        total = tf.reduce_sum(real_scores)
    grads = tape.gradient(total, reals)
    return real_scores, tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])
