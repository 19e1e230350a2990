"""``python -m export efficientnet``: build, load weights, export a version."""

from __future__ import annotations

import argparse
from pathlib import Path

from export.efficientnet.scaling import ALPHA, BETA, GAMMA, VARIANTS
from export.errors import ExportError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = ("EfficientNet B0-B7, or custom compound scaling with --phi. --weights takes "
                          "'none' (random), 'imagenet' (downloads the published Keras file) or a weights file "
                          "(.weights.h5, .h5 or .keras).")
    parser.add_argument("--variant", default="b0", type=str.lower, choices=list(VARIANTS),
                        help="released variant (default: b0); ignored with --phi")
    parser.add_argument("--phi", type=float, default=None,
                        help="compound coefficient: depth alpha^phi, width beta^phi, resolution 224*gamma^phi")
    parser.add_argument("--alpha", type=float, default=ALPHA, help=f"depth base (default {ALPHA})")
    parser.add_argument("--beta", type=float, default=BETA, help=f"width base (default {BETA})")
    parser.add_argument("--gamma", type=float, default=GAMMA, help=f"resolution base (default {GAMMA})")
    parser.add_argument("--top-k", type=int, default=5, help="classes returned per image (default 5)")


def run(args: argparse.Namespace) -> Path:
    from export.efficientnet import export as efficientnet_export

    if not 1 <= args.top_k <= 1000:
        raise ExportError(f"--top-k must be between 1 and 1000, got {args.top_k}")
    return efficientnet_export.export_efficientnet(
        variant=args.variant, phi=args.phi, alpha=args.alpha, beta=args.beta, gamma=args.gamma,
        weights=args.weights, top_k=args.top_k, models_dir=args.models_dir, name=args.name,
        version=args.version, force=args.force)
