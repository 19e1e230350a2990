"""``python -m export <model> …``: one command line for every model, and ``inspect``.

Common flags are added here; each model package's ``command`` module adds its own with
``configure(parser)`` and does the work in ``run(args) -> Path``. Only the chosen model's
module is imported, so ``--help`` and ``inspect`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from pathlib import Path
from typing import Sequence

from export.errors import ExportError

MODELS = {
    "efficientnet": "EfficientNet B0-B7 or custom compound scaling (image classification)",
    "detr": "DETR object detection (ResNet backbone + transformer)",
    "stylegan": "StyleGAN generator (config F)",
}


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as a single line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def add_common_arguments(parser: argparse.ArgumentParser, model: str) -> None:
    parser.add_argument("--weights", default="none",
                        help="'none' for random initialisation, or a weights file (each model lists more sources)")
    parser.add_argument("--models-dir", type=Path, default=Path("models"),
                        help="model repository root; the version goes to <models-dir>/<name>/<version> (default: models)")
    parser.add_argument("--name", default=model, help=f"model name in the repository (default: {model})")
    parser.add_argument("--version", type=int, default=None,
                        help="version number to write (default: one more than the highest existing)")
    parser.add_argument("--force", action="store_true", help="replace --version if it already exists")


def _chosen_command(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m export",
                           description="Export Keras models as versioned, verified TF Serving SavedModels.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join([*MODELS, "inspect"]) + "}")
    chosen = _chosen_command(argv)
    for model, summary in MODELS.items():
        sub = commands.add_parser(model, help=summary, description=summary)
        if model == chosen:
            add_common_arguments(sub, model)
            importlib.import_module(f"export.{model}.command").configure(sub)
    inspect = commands.add_parser("inspect", help="print an export's signatures and export_info")
    inspect.add_argument("path", type=Path, help="a version directory, e.g. models/efficientnet/1")
    return parser


def _check_common_arguments(args: argparse.Namespace) -> None:
    """Cheap checks before TensorFlow is imported, so a typo fails in a second, not after a build."""
    from export.publish import check_version_free

    check_version_free(args.models_dir / args.name, args.version, args.force)
    if args.weights not in ("none", "imagenet") and not Path(args.weights).is_file():
        raise ExportError(f"weights file not found: {args.weights}")


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so an interrupted export removes its staging directory."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    _stop_on_sigterm()
    try:
        if args.command == "inspect":
            from export.inspection import describe
            print(describe(args.path))
            return 0
        _check_common_arguments(args)
        path = importlib.import_module(f"export.{args.command}.command").run(args)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(path)
    return 0
