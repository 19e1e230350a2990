"""Build a StyleGAN generator (random, Keras weights file or official pickle) and publish a version."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from export.errors import ExportError
from export.pipeline import export_version
from export.stylegan.config import StyleGANConfig
from export.stylegan.generator import Generator
from export.stylegan.pickle_reader import generator_from_pickle
from export.stylegan.serving import make_endpoints


def build_generator(*, config: StyleGANConfig | None, weights: str = "none", pickle: str | Path | None = None,
                    network: str = "Gs", truncation_psi: float = 0.7, truncation_cutoff: int = 8,
                    seed: int = 0) -> tuple[Generator, str]:
    """(generator, description of the weight source).

    With `pickle` the network shape comes from the pickle; `config`, if given, only has to agree with
    its resolution (None: take whatever the pickle holds). Without a pickle `config` is required."""
    kwargs = {"truncation_psi": truncation_psi, "truncation_cutoff": truncation_cutoff}
    if pickle is not None:
        if weights != "none":
            raise ExportError("give either --pickle or --weights, not both")
        generator = generator_from_pickle(pickle, network=network, **kwargs)
        if config is not None and generator.config.resolution != config.resolution:
            raise ExportError(f"the pickle holds a {generator.config.resolution}² generator, "
                              f"--resolution asks for {config.resolution}²")
        return generator, f"official pickle {Path(pickle).name} ({network})"
    if config is None:
        raise ExportError("a network config is needed unless the weights come from a pickle")
    keras.utils.set_random_seed(seed)
    generator = Generator(config, **kwargs)
    if weights == "none":
        return generator, f"random (seed {seed})"
    if not Path(weights).is_file():
        raise ExportError(f"weights file not found: {weights}")
    try:
        generator.load_weights(weights)
    except (ValueError, OSError, KeyError) as error:
        raise ExportError(f"cannot load {weights} into a {config.resolution}² generator "
                          f"(fmap_base {config.fmap_base}, fmap_max {config.fmap_max}, "
                          f"latent {config.latent_size}): {str(error).splitlines()[0]}") from None
    return generator, f"keras weights {Path(weights).name}"


def example_inputs(generator: Generator, truncation_psi: float) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, generator.config.latent_size)).astype(np.float32)
    psi = np.float32(truncation_psi)
    return {
        "serving_default": {"z": z, "truncation_psi": psi},
        "generate_png": {"seeds": np.array([0, 42], np.int64), "truncation_psi": psi},
        "mix": {"z1": z, "z2": z[::-1].copy(), "crossover": np.int32(generator.num_layers // 2),
                "truncation_psi": psi},
        "mapping": {"z": z},
        "synthesis": {"dlatents": rng.standard_normal(
            (2, generator.num_layers, generator.config.dlatent_size)).astype(np.float32)},
    }


def export_stylegan(*, generator: Generator, weights_source: str, models_dir: str | Path,
                    name: str = "stylegan", version: int | None = None, force: bool = False) -> Path:
    """Export `generator` with the serving signatures; verified against the in-process model."""
    endpoints = make_endpoints(generator)
    inputs = example_inputs(generator, generator.truncation_psi)
    checks = {}
    for endpoint in endpoints:
        args = [tf.constant(inputs[endpoint.name][spec.name]) for spec in endpoint.input_signature]
        # Traced with the signature's own (unknown-batch) shapes, as the SavedModel is: the same kernels
        # run, so uint8 and PNG outputs can be compared exactly.
        outputs = tf.function(endpoint.fn, input_signature=list(endpoint.input_signature))(*args)
        checks[endpoint.name] = (inputs[endpoint.name], {k: v.numpy() for k, v in outputs.items()})
    c = generator.config
    info = {
        "model": "stylegan",
        "variant": "config-f",
        "weights": weights_source,
        "resolution": c.resolution,
        "num_layers": c.num_layers,
        "latent_size": c.latent_size,
        "dlatent_size": c.dlatent_size,
        "fmap_base": c.fmap_base,
        "fmap_max": c.fmap_max,
        "truncation_cutoff": generator.truncation_cutoff,
        "default_truncation_psi": generator.truncation_psi,
        "noise": "fixed: the stored noise{i} inputs (deterministic outputs)",
        "generate_png_latents": "tf.random.stateless_normal([latent_size], seed=[seed, 0], alg='philox')",
        "mapping_output": "w [N, dlatent_size], before broadcast and truncation",
        "generator_trainable_parameters": generator.trainable_parameter_counts(),
    }
    return export_version(model=generator, endpoints=endpoints, models_dir=models_dir, name=name,
                          version=version, force=force, info=info,
                          warmup={k: v for k, v in inputs.items()}, checks=checks)
