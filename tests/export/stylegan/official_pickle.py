"""Builds pickles with the object layout and variable names of official NVlabs/stylegan pickles.

An official pickle is the tuple (G, D, Gs) of `dnnlib.tflib.network.Network` objects; each pickles the
dict of `Network.__getstate__` (version 3, name, static_kwargs, components, build_module_src,
build_func_name, variables = [(local name, array)]). Names and NCHW shapes here are written from
training/networks_stylegan.py, independently of the Keras port's own name table.
"""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np


class Network:
    """Pickles like dnnlib.tflib.network.Network (module path set by `official_modules`)."""

    def __init__(self, name, func_name, static_kwargs, variables, components=None):
        self.name, self.func_name, self.static_kwargs = name, func_name, static_kwargs
        self.variables, self.components = variables, components or {}

    def __getstate__(self):
        return {
            "version": 3,
            "name": self.name,
            "static_kwargs": dict(self.static_kwargs),
            "components": dict(self.components),
            "build_module_src": "raise RuntimeError('the reader must never execute this')",
            "build_func_name": self.func_name,
            "variables": list(self.variables.items()),
        }


def official_modules(monkeypatch) -> None:
    """Make `Network` importable as dnnlib.tflib.network.Network so pickle records that path."""
    for name in ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setattr(sys.modules["dnnlib.tflib.network"], "Network", Network, raising=False)
    monkeypatch.setattr(Network, "__module__", "dnnlib.tflib.network")


def nf(stage, fmap_base, fmap_max):
    return min(int(fmap_base / 2.0**stage), fmap_max)


def generator_variables(rng, resolution, fmap_base, fmap_max, latent, channels=3):
    """(mapping vars, synthesis vars) with official local names and shapes, random values."""

    def r(*shape):
        return rng.normal(0, 0.5, shape).astype(np.float32)

    mapping = {}
    for i in range(8):
        mapping[f"Dense{i}/weight"], mapping[f"Dense{i}/bias"] = r(latent, latent), r(latent)
    log2 = int(np.log2(resolution))
    synthesis = {"lod": np.float32(0)}
    for i in range(2 * log2 - 2):
        size = 2 ** (i // 2 + 2)
        synthesis[f"noise{i}"] = r(1, 1, size, size)

    def epilogue(scope, c):
        synthesis[f"{scope}/Noise/weight"] = r(c)
        synthesis[f"{scope}/bias"] = r(c)
        synthesis[f"{scope}/StyleMod/weight"] = r(latent, 2 * c)
        synthesis[f"{scope}/StyleMod/bias"] = r(2 * c)

    c1 = nf(1, fmap_base, fmap_max)
    synthesis["4x4/Const/const"] = r(1, c1, 4, 4)
    epilogue("4x4/Const", c1)
    synthesis["4x4/Conv/weight"] = r(3, 3, c1, c1)
    epilogue("4x4/Conv", c1)
    for res in range(3, log2 + 1):
        size, cin, cout = 2**res, nf(res - 2, fmap_base, fmap_max), nf(res - 1, fmap_base, fmap_max)
        synthesis[f"{size}x{size}/Conv0_up/weight"] = r(3, 3, cin, cout)
        epilogue(f"{size}x{size}/Conv0_up", cout)
        synthesis[f"{size}x{size}/Conv1/weight"] = r(3, 3, cout, cout)
        epilogue(f"{size}x{size}/Conv1", cout)
    for res in range(2, log2 + 1):
        lod = log2 - res
        synthesis[f"ToRGB_lod{lod}/weight"] = r(1, 1, nf(res - 1, fmap_base, fmap_max), channels)
        synthesis[f"ToRGB_lod{lod}/bias"] = r(channels)
    return mapping, synthesis


def discriminator_variables(rng, resolution, fmap_base, fmap_max, channels=3):
    def r(*shape):
        return rng.normal(0, 0.5, shape).astype(np.float32)

    log2 = int(np.log2(resolution))
    v = {"lod": np.float32(0)}
    for res in range(log2, 1, -1):
        lod = log2 - res
        v[f"FromRGB_lod{lod}/weight"] = r(1, 1, channels, nf(res - 1, fmap_base, fmap_max))
        v[f"FromRGB_lod{lod}/bias"] = r(nf(res - 1, fmap_base, fmap_max))
    for res in range(log2, 2, -1):
        size = 2**res
        c0, c1 = nf(res - 1, fmap_base, fmap_max), nf(res - 2, fmap_base, fmap_max)
        v[f"{size}x{size}/Conv0/weight"], v[f"{size}x{size}/Conv0/bias"] = r(3, 3, c0, c0), r(c0)
        v[f"{size}x{size}/Conv1_down/weight"], v[f"{size}x{size}/Conv1_down/bias"] = r(3, 3, c0, c1), r(c1)
    c1, c0 = nf(1, fmap_base, fmap_max), nf(0, fmap_base, fmap_max)
    v["4x4/Conv/weight"], v["4x4/Conv/bias"] = r(3, 3, c1 + 1, c1), r(c1)
    v["4x4/Dense0/weight"], v["4x4/Dense0/bias"] = r(c1 * 16, c0), r(c0)
    v["4x4/Dense1/weight"], v["4x4/Dense1/bias"] = r(c0, 1), r(1)
    return v


def generator_network(name, mapping, synthesis, dlatent_avg, kwargs):
    components = {
        "synthesis": Network("G_synthesis", "G_synthesis", kwargs, synthesis),
        "mapping": Network(
            "G_mapping",
            "G_mapping",
            {**kwargs, "dlatent_broadcast": 2 * int(np.log2(kwargs["resolution"])) - 2},
            mapping,
        ),
    }
    return Network(name, "G_style", kwargs, {"lod": np.float32(0), "dlatent_avg": dlatent_avg}, components)


def write_official_pickle(
    path: Path, monkeypatch, resolution=16, fmap_base=64, fmap_max=8, latent=16, seed=0, edit=None
) -> dict[str, dict[str, np.ndarray]]:
    """Write (G, D, Gs) like an official pickle. `edit(gs_synthesis_vars)` may corrupt it for error tests.
    Returns the flat {name: array} per network, named like `Network.vars`."""
    official_modules(monkeypatch)
    rng = np.random.default_rng(seed)
    kwargs = {
        "num_channels": 3,
        "resolution": resolution,
        "label_size": 0,
        "fmap_base": fmap_base,
        "fmap_max": fmap_max,
        "latent_size": latent,
        "dlatent_size": latent,
        "mapping_fmaps": latent,
    }
    nets = {}
    for name in ("G", "Gs"):
        mapping, synthesis = generator_variables(rng, resolution, fmap_base, fmap_max, latent)
        if edit is not None and name == "Gs":
            edit(synthesis)
        avg = rng.normal(0, 0.5, latent).astype(np.float32)
        nets[name] = generator_network(name, mapping, synthesis, avg, kwargs)
    d = discriminator_variables(rng, resolution, fmap_base, fmap_max)
    nets["D"] = Network("D", "D_basic", kwargs, d)
    with open(path, "wb") as f:
        pickle.dump((nets["G"], nets["D"], nets["Gs"]), f, protocol=3)
    flat = {}
    for name, net in nets.items():
        flat[name] = dict(net.variables)
        for comp in net.components.values():
            flat[name].update({f"{comp.name}/{k}": v for k, v in comp.variables.items()})
    return flat
