"""``python -m export stylegan``: the StyleGAN options, flags and build for the export pipeline."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from export.errors import ExportError
from export.pipeline.model_export import Exportable, ModelExport
from export.stylegan.weights.presets import ARCHITECTURE, PRESETS
from export.weights.presets import NONE, choose_preset

if TYPE_CHECKING:
    import numpy as np

    from export.stylegan.networks.config import StyleGANConfig
    from export.stylegan.networks.generator import Generator
    from export.weights.presets import Preset

NETWORKS = ("Gs", "G")
DEFAULT_MAX_SEEDS = 16  # generate_png seeds a request: a 1024² image takes hundreds of MB to synthesise


def _is_resolution(value: int) -> bool:
    return 8 <= value <= 1024 and not value & (value - 1)


def _resolution_flag(text: str) -> int:
    if not (text.isascii() and text.isdigit() and _is_resolution(int(text))):
        raise argparse.ArgumentTypeError(f"must be a power of two from 8 to 1024, got {text}")
    return int(text)


@dataclass(frozen=True)
class StyleGANExport(ModelExport):
    """A StyleGAN generator (config F) with random weights, published weights by name (``weights``
    ``ffhq``, ``celebahq``, ``bedrooms``, ``cars``, ``cats``: NVIDIA's pickles, fetched into the cache),
    a Keras ``weights`` file or an official ``pickle`` (also as ``weights`` ending in .pkl).

    With a pickle the network shape comes from it (``resolution``, if given, must agree); otherwise
    ``resolution``, ``fmap_base``, ``fmap_max`` and ``latent_size`` shape it. ``truncation_psi`` is the
    default ψ recorded in export_info and used by warmup; every image signature takes ψ as an input.
    """

    command = "stylegan"

    pickle: str | Path | None = None
    network: str = "Gs"
    resolution: int | None = None
    truncation_psi: float = 0.7
    truncation_cutoff: int = 8
    fmap_base: int = 8192
    fmap_max: int = 512
    latent_size: int = 512
    seed: int = 0
    weights: str = NONE
    max_seeds: int = DEFAULT_MAX_SEEDS

    def __post_init__(self) -> None:
        if self.max_seeds < 1:
            raise ExportError(f"--max-seeds must be >= 1, got {self.max_seeds}")
        if self.pickle is not None and self.weights != NONE:
            raise ExportError("give either --pickle or --weights, not both")
        self.weights_preset()  # an unknown weights name fails now
        if self.network not in NETWORKS:
            raise ExportError(f"--network must be one of {', '.join(NETWORKS)}, got {self.network!r}")
        if self.truncation_cutoff < 0:
            raise ExportError(f"--truncation-cutoff must be >= 0, got {self.truncation_cutoff}")
        if self.resolution is not None and not _is_resolution(self.resolution):
            raise ExportError(f"--resolution must be a power of two from 8 to 1024, got {self.resolution}")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "StyleGAN generator (config F). Weights: --weights none (random, the default); --weights "
            "ffhq, celebahq, bedrooms, cars or cats (NVIDIA's published pickles, fetched into the cache, "
            "CC BY-NC 4.0: python -m export weights list); --weights PATH (a Keras .weights.h5 of a "
            "generator with the same shape flags, or an official .pkl); or --pickle PATH (an official "
            "NVlabs karras2019stylegan-*.pkl)."
        )
        parser.add_argument("--pickle", type=Path, default=None, help="official pickle (G, D, Gs); exports Gs")
        parser.add_argument(
            "--network",
            choices=list(NETWORKS),
            default="Gs",
            help="which pickled generator: Gs (moving average, default) or G",
        )
        parser.add_argument(
            "--resolution",
            type=_resolution_flag,
            default=None,
            help="output size, power of two 8..1024 (default 1024, or the pickle's)",
        )
        parser.add_argument(
            "--truncation-psi",
            type=float,
            default=0.7,
            help="ψ used by warmup/checks and recorded as default_truncation_psi (default 0.7)",
        )
        parser.add_argument(
            "--truncation-cutoff", type=int, default=8, help="truncation applies to layers < cutoff (default 8)"
        )
        parser.add_argument("--fmap-base", type=int, default=8192, help="channel schedule base (default 8192)")
        parser.add_argument("--fmap-max", type=int, default=512, help="maximum channels (default 512)")
        parser.add_argument("--latent-size", type=int, default=512, help="z and w size (default 512)")
        parser.add_argument(
            "--max-seeds",
            type=int,
            default=DEFAULT_MAX_SEEDS,
            help=f"generate_png refuses requests with more seeds than this (default {DEFAULT_MAX_SEEDS})",
        )

    def describe(self) -> str:
        return f"StyleGAN ({self.weights if self.weights_preset() else 'config F'})"

    def weights_preset(self) -> Preset | None:
        return choose_preset(self.weights, PRESETS, ARCHITECTURE)

    def official_pickle(self) -> Path | None:
        """The official pickle named by --pickle, or by --weights ending in .pkl (a preset is fetched later)."""
        if self.pickle is not None:
            return Path(self.pickle)
        return Path(self.weights) if self.weights.endswith(".pkl") else None

    def input_files(self) -> dict[str, Path]:
        if self.official_pickle() is not None:
            return {"pickle": self.official_pickle()}
        return {} if self.weights == NONE or self.weights_preset() else {"weights file": Path(self.weights)}

    def network_config(self) -> StyleGANConfig | None:
        """The shape from the flags; None for a pickle without --resolution (the pickle decides)."""
        from export.stylegan.networks.config import StyleGANConfig

        if self.official_pickle() is not None or self.weights_preset() is not None:
            return None if self.resolution is None else StyleGANConfig(resolution=self.resolution)
        try:
            config = StyleGANConfig(
                resolution=self.resolution or 1024,
                fmap_base=self.fmap_base,
                fmap_max=self.fmap_max,
                latent_size=self.latent_size,
                dlatent_size=self.latent_size,
                mapping_fmaps=self.latent_size,
            )
        except ValueError as error:
            raise ExportError(str(error)) from None
        if min(config.nf(s) for s in range(config.resolution_log2)) < 1:
            raise ExportError(f"--fmap-base {self.fmap_base} leaves a stage with no channels at {config.resolution}²")
        return config

    def build(self) -> Exportable:
        fetched = self.fetch()
        pickle = fetched.path if fetched is not None else self.official_pickle()
        generator, source = build_generator(
            config=self.network_config(),
            weights=NONE if pickle is not None else self.weights,
            pickle=pickle,
            network=self.network,
            truncation_psi=self.truncation_psi,
            truncation_cutoff=self.truncation_cutoff,
            seed=self.seed,
        )
        exportable = stylegan_exportable(generator, weights_source=source, max_seeds=self.max_seeds)
        if fetched is not None:
            exportable.info["weights_file"] = fetched.record()
        return exportable


def build_generator(
    *,
    config: StyleGANConfig | None,
    weights: str = NONE,
    pickle: str | Path | None = None,
    network: str = "Gs",
    truncation_psi: float = 0.7,
    truncation_cutoff: int = 8,
    seed: int = 0,
) -> tuple[Generator, str]:
    """(generator, description of the weight source).

    With `pickle` the network shape comes from the pickle; `config`, if given, only has to agree with
    its resolution (None: take whatever the pickle holds). Without a pickle `config` is required."""
    import keras

    from export.stylegan.networks.generator import Generator
    from export.stylegan.weights.convert import generator_from_pickle
    from export.weights.keras_file import load_keras_weights

    kwargs = {"truncation_psi": truncation_psi, "truncation_cutoff": truncation_cutoff}
    if pickle is not None:
        if weights != NONE:
            raise ExportError("give either --pickle or --weights, not both")
        generator = generator_from_pickle(pickle, network=network, **kwargs)
        if config is not None and generator.config.resolution != config.resolution:
            raise ExportError(
                f"the pickle holds a {generator.config.resolution}² generator, "
                f"--resolution asks for {config.resolution}²"
            )
        return generator, f"official pickle {Path(pickle).name} ({network})"
    if config is None:
        raise ExportError("a network config is needed unless the weights come from a pickle")
    keras.utils.set_random_seed(seed)
    generator = Generator(config, **kwargs)
    if weights == NONE:
        return generator, f"random (seed {seed})"
    load_keras_weights(
        generator,
        weights,
        f"a {config.resolution}² generator (fmap_base {config.fmap_base}, "
        f"fmap_max {config.fmap_max}, latent {config.latent_size})",
    )
    return generator, f"keras weights {Path(weights).name}"


def example_inputs(generator: Generator, truncation_psi: float) -> dict[str, dict[str, np.ndarray]]:
    import numpy as np

    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, generator.config.latent_size)).astype(np.float32)
    # Settings one per example: the form TF Serving's batcher merges (warmup records go through it too).
    psi = np.full(2, truncation_psi, np.float32)
    return {
        "serving_default": {"z": z, "truncation_psi": psi},
        "generate_png": {"seeds": np.array([0, 42], np.int64), "truncation_psi": psi},
        "mix": {
            "z1": z,
            "z2": z[::-1].copy(),
            "crossover": np.full(2, generator.num_layers // 2, np.int32),
            "truncation_psi": psi,
        },
        "mapping": {"z": z},
        "synthesis": {
            "dlatents": rng.standard_normal((2, generator.num_layers, generator.config.dlatent_size)).astype(np.float32)
        },
    }


def stylegan_exportable(generator: Generator, *, weights_source: str, max_seeds: int = DEFAULT_MAX_SEEDS) -> Exportable:
    """Endpoints, examples and export_info of a built generator."""
    from export.stylegan.signatures import build_endpoints

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
        "max_seeds": max_seeds,
    }
    return Exportable(
        model=generator,
        endpoints=build_endpoints(generator, max_seeds),
        examples=example_inputs(generator, generator.truncation_psi),
        info=info,
    )
