"""Small shared helpers for the StyleGAN tests."""

from __future__ import annotations

import numpy as np

from export.stylegan.networks.config import StyleGANConfig

TINY = {"fmap_base": 64, "fmap_max": 8, "latent_size": 16, "dlatent_size": 16, "mapping_fmaps": 16}


def tiny_config(resolution: int = 8, **overrides) -> StyleGANConfig:
    """A small-channel network with the official structure, quick to build and run."""
    return StyleGANConfig(resolution=resolution, **{**TINY, **overrides})


def randomize(model, seed: int = 0) -> None:
    """Give every variable (biases, noise strengths, w̄ included) a random value so no term is trivially zero."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(0.0, 0.5, variable.shape).astype(np.float32))


def official_arrays(model) -> dict[str, np.ndarray]:
    """The model's variables under official names and in official NCHW layouts (float64)."""
    arrays = {}
    for name, variable in model.official_variables().items():
        value = np.asarray(variable.numpy(), np.float64)
        leaf = name.rsplit("/", 1)[-1]
        if leaf == "const" or leaf.startswith("noise"):
            value = value.transpose(0, 3, 1, 2)
        arrays[name] = value
    return arrays
