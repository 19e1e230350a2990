"""Serving signatures of an exported StyleGAN generator.

All signatures use the stored noise inputs (`noise{i}` variables), so outputs are a deterministic
function of the inputs. The truncation cutoff is fixed at export; ψ is an input of every image signature,
a scalar for every image or one value per image ([N]: what TF Serving's batcher can merge, see
export/per_example.py); so is `mix`'s crossover.
- `serving_default`: z [N, latent] float32, truncation_psi float32 [] or [N] → images uint8 [N, H, W, 3]
- `generate_png`: seeds int64 [N], truncation_psi → images_bytes string [N] (PNG); z = stateless
  Philox normal draw from (seed, 0), so a seed always gives the same image; at most `max_seeds`
  seeds a request (an export option, default 16)
- `mix`: z1, z2 [N, latent] (the same N), crossover int32 [] or [N] in [0, num_layers], truncation_psi
  → images: layers < crossover styled by z1, the rest by z2 (0: all z2; num_layers: all z1);
  truncation after mixing, as official
- `mapping`: z → w float32 [N, dlatent] (one w per sample: before broadcast to the layers and before
  truncation; every layer of the synthesis network gets this same w)
- `synthesis`: dlatents float32 [N, num_layers, dlatent] → images_float float32 [N, H, W, 3] in about
  [−1, 1] (no truncation: pass w̄ + ψ(w − w̄) yourself). With `mapping` it lets clients edit styles.

Inputs outside these rules (a crossover out of range, z batches of different sizes, a ψ that is
NaN or infinite, too many seeds) are refused in the graph with INVALID_ARGUMENT, so any TF Serving
protects the same way.

At export every signature is checked against the in-process model traced with the same input
signature (float outputs within 1e-5, uint8 and PNG outputs exactly). Traced with a fixed batch size
instead, kernels may differ and floats move by ~1e-6, enough to flip an 8-bit rounding now and then.
"""

from __future__ import annotations

import tensorflow as tf

from export.pipeline.endpoint import Endpoint
from export.signatures.per_example import per_example, per_example_spec
from export.stylegan.networks.generator import Generator
from protocol.outputs import IMAGES_BYTES


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """[−1, 1] floats → uint8 with rounding and saturation (tflib.convert_images_to_uint8)."""
    return tf.saturate_cast(images * 127.5 + 128.0, tf.uint8)


def latents_from_seeds(seeds: tf.Tensor, latent_size: int) -> tf.Tensor:
    """One standard-normal z per int64 seed, independent of the other seeds in the batch."""

    def draw(seed):
        return tf.random.stateless_normal([latent_size], seed=tf.stack([seed, tf.zeros_like(seed)]), alg="philox")

    return tf.map_fn(draw, tf.cast(seeds, tf.int64), fn_output_signature=tf.TensorSpec([latent_size], tf.float32))


def encode_png(images: tf.Tensor) -> tf.Tensor:
    return tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.TensorSpec([], tf.string))


def per_image(value: tf.Tensor, rows: tf.Tensor, name: str) -> tf.Tensor:
    """A scalar or per-image setting as [N, 1, 1], to broadcast over dlatents [N, num_layers, D]."""
    return per_example(value, rows, name)[:, None, None]


def _checked(checks: list[tf.Operation], *tensors: tf.Tensor) -> list[tf.Tensor]:
    """``tensors`` that can only be used after every check passed."""
    with tf.control_dependencies(checks):
        return [tf.identity(t) for t in tensors]


def _finite_psi(truncation_psi: tf.Tensor) -> tf.Operation:
    return tf.debugging.Assert(
        tf.reduce_all(tf.math.is_finite(truncation_psi)), ["truncation_psi must be a finite number"]
    )


def build_endpoints(generator: Generator, max_seeds: int) -> list[Endpoint]:
    latent = generator.config.latent_size
    num_layers = generator.num_layers
    psi_spec = per_example_spec(tf.float32, "truncation_psi")

    def synthesize(z, truncation_psi):
        (truncation_psi,) = _checked([_finite_psi(truncation_psi)], truncation_psi)
        psi = per_image(truncation_psi, tf.shape(z)[0], "truncation_psi")
        return to_uint8(generator(z, truncation_psi=psi, randomize_noise=False))

    def serving_default(z, truncation_psi):
        return {"images": synthesize(z, truncation_psi)}

    def generate_png(seeds, truncation_psi):
        count = tf.size(seeds)
        (seeds,) = _checked(
            [
                tf.debugging.Assert(
                    count <= max_seeds,
                    [tf.strings.format("generate_png takes at most {} seeds a request, got {}", (max_seeds, count))],
                )
            ],
            seeds,
        )
        return {IMAGES_BYTES: encode_png(synthesize(latents_from_seeds(seeds, latent), truncation_psi))}

    def mix(z1, z2, crossover, truncation_psi):
        checks = [
            tf.debugging.Assert(
                tf.reduce_all(tf.logical_and(crossover >= 0, crossover <= num_layers)),
                [tf.strings.format("crossover must be in [0, {}], got {}", (num_layers, crossover))],
            ),
            tf.debugging.Assert(
                tf.equal(tf.shape(z1)[0], tf.shape(z2)[0]),
                [
                    tf.strings.format(
                        "z1 and z2 must hold the same number of latents, got {} and {}",
                        (tf.shape(z1)[0], tf.shape(z2)[0]),
                    )
                ],
            ),
            _finite_psi(truncation_psi),
        ]
        z1, z2, crossover, truncation_psi = _checked(checks, z1, z2, crossover, truncation_psi)
        rows = tf.shape(z1)[0]
        d1 = generator.broadcast(generator.mapping(z1))
        d2 = generator.broadcast(generator.mapping(z2))
        mixed = generator.mix(d1, d2, per_image(crossover, rows, "crossover"))
        dlatents = generator.truncate(mixed, per_image(truncation_psi, rows, "truncation_psi"))
        return {"images": to_uint8(generator.synthesis(dlatents, randomize_noise=False))}

    def mapping(z):
        return {"w": generator.mapping(z)}

    def synthesis(dlatents):
        return {"images_float": generator.synthesis(dlatents, randomize_noise=False)}

    return [
        Endpoint("serving_default", serving_default, [tf.TensorSpec([None, latent], tf.float32, name="z"), psi_spec]),
        Endpoint("generate_png", generate_png, [tf.TensorSpec([None], tf.int64, name="seeds"), psi_spec]),
        Endpoint(
            "mix",
            mix,
            [
                tf.TensorSpec([None, latent], tf.float32, name="z1"),
                tf.TensorSpec([None, latent], tf.float32, name="z2"),
                per_example_spec(tf.int32, "crossover"),
                psi_spec,
            ],
        ),
        Endpoint("mapping", mapping, [tf.TensorSpec([None, latent], tf.float32, name="z")]),
        Endpoint(
            "synthesis",
            synthesis,
            [tf.TensorSpec([None, generator.num_layers, generator.config.dlatent_size], tf.float32, name="dlatents")],
        ),
    ]
