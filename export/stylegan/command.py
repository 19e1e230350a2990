"""``python -m export stylegan``: build the generator, load weights, export a version."""
from __future__ import annotations

import argparse
from pathlib import Path

from export.errors import ExportError


def _resolution(text: str) -> int:
    value = int(text)
    if value < 8 or value > 1024 or value & (value - 1):
        raise argparse.ArgumentTypeError(f"must be a power of two from 8 to 1024, got {text}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = ("StyleGAN generator (config F). Weights: --weights none (random), --weights PATH "
                          "(a Keras .weights.h5 of a generator with the same shape flags), or --pickle PATH "
                          "(an official NVlabs karras2019stylegan-*.pkl).")
    parser.add_argument("--pickle", type=Path, default=None, help="official pickle (G, D, Gs); exports Gs")
    parser.add_argument("--network", choices=["Gs", "G"], default="Gs",
                        help="which pickled generator: Gs (moving average, default) or G")
    parser.add_argument("--resolution", type=_resolution, default=None,
                        help="output size, power of two 8..1024 (default 1024, or the pickle's)")
    parser.add_argument("--truncation-psi", type=float, default=0.7,
                        help="ψ used by warmup/checks and recorded as default_truncation_psi (default 0.7)")
    parser.add_argument("--truncation-cutoff", type=int, default=8,
                        help="truncation applies to layers < cutoff (default 8)")
    parser.add_argument("--fmap-base", type=int, default=8192, help="channel schedule base (default 8192)")
    parser.add_argument("--fmap-max", type=int, default=512, help="maximum channels (default 512)")
    parser.add_argument("--latent-size", type=int, default=512, help="z and w size (default 512)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed for --weights none (default 0)")


def run(args: argparse.Namespace) -> Path:
    from export.stylegan.config import StyleGANConfig
    from export.stylegan.export import build_generator, export_stylegan

    if args.truncation_cutoff < 0:
        raise ExportError(f"--truncation-cutoff must be >= 0, got {args.truncation_cutoff}")
    if args.pickle is not None:
        # The shape comes from the pickle, read once by build_generator; --resolution is only checked.
        config = None if args.resolution is None else StyleGANConfig(resolution=args.resolution)
    else:
        try:
            config = StyleGANConfig(resolution=args.resolution or 1024, fmap_base=args.fmap_base,
                                    fmap_max=args.fmap_max, latent_size=args.latent_size,
                                    dlatent_size=args.latent_size, mapping_fmaps=args.latent_size)
        except ValueError as error:
            raise ExportError(str(error)) from None
        if min(config.nf(s) for s in range(config.resolution_log2)) < 1:
            raise ExportError(f"--fmap-base {args.fmap_base} leaves a stage with no channels at "
                              f"{config.resolution}²")
    generator, source = build_generator(config=config, weights=args.weights, pickle=args.pickle,
                                        network=args.network, truncation_psi=args.truncation_psi,
                                        truncation_cutoff=args.truncation_cutoff, seed=args.seed)
    return export_stylegan(generator=generator, weights_source=source, models_dir=args.models_dir,
                           name=args.name, version=args.version, force=args.force)
