"""``python -m export <model> …``: one command line for every model, and ``inspect``.

The common flags are added here; each model's ``ModelExport`` adds its own and builds. Only the
chosen model's module is imported, and TensorFlow only once the cheap checks (model name, version,
input files) have passed, so ``--help``, typos and existing versions fail in about a second.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from export.errors import ExportError
from export.model_export import ModelExport

# command → (one-line summary, "module:ModelExport class")
MODELS = {
    "efficientnet": (
        "EfficientNet B0-B7 or custom compound scaling (image classification)",
        "export.efficientnet.exporter:EfficientNetExport",
    ),
    "detr": ("DETR object detection (ResNet backbone + transformer)", "export.detr.exporter:DETRExport"),
    "stylegan": ("StyleGAN generator (config F)", "export.stylegan.exporter:StyleGANExport"),
    "keras": (
        "your own Keras model: a .keras or legacy .h5 file, or module:function",
        "export.keras_model.exporter:KerasExport",
    ),
}
TRACEBACK_ENV = "EXPORT_TRACEBACK"


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as a single line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def model_export_class(command: str) -> type[ModelExport]:
    """The ``ModelExport`` subclass behind ``python -m export <command>`` (imports its module)."""
    module, _, name = MODELS[command][1].partition(":")
    return getattr(importlib.import_module(module), name)


def add_common_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument(
        "--weights",
        default="none",
        help="'none' for random initialisation, or a weights file (each model lists more sources)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=Path("models"),
        help="model repository root; the version goes to <models-dir>/<name>/<version> (default: models)",
    )
    parser.add_argument(
        "--name",
        default=None,
        help="model name in the repository, a plain directory name (default: "
        + ("the file's or function's name)" if command == "keras" else f"{command})"),
    )
    parser.add_argument(
        "--version",
        type=int,
        default=None,
        help="version number to write (default: one more than the highest existing)",
    )
    parser.add_argument("--force", action="store_true", help="replace --version if it already exists")


def _chosen_command(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m export", description="Export Keras models as versioned, verified TF Serving SavedModels."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join([*MODELS, "inspect"]) + "}")
    chosen = _chosen_command(argv)
    for command, (summary, _) in MODELS.items():
        sub = commands.add_parser(command, help=summary, description=summary)
        if command == chosen:
            add_common_arguments(sub, command)
            model_export_class(command).add_arguments(sub)
    inspect = commands.add_parser("inspect", help="print an export's signatures and export_info")
    inspect.add_argument("path", type=Path, help="a version directory, e.g. models/efficientnet/1")
    return parser


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so an interrupted export removes its staging directory."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def _export(args: argparse.Namespace) -> Path:
    from export.preflight import preflight

    spec = model_export_class(args.command).from_arguments(args)
    name = spec.default_name() if args.name is None else args.name
    target = preflight(spec, args.models_dir, name, args.version, args.force)  # before TensorFlow is imported
    from export.pipeline import write_checked

    return write_checked(spec.build(), target)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    _stop_on_sigterm()
    try:
        if args.command == "inspect":
            from export.inspection import describe

            print(describe(args.path))
            return 0
        path = _export(args)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a bug, not a user error: one line unless asked for the traceback
        if os.environ.get(TRACEBACK_ENV):
            raise
        lines = str(error).strip().splitlines()
        print(
            f"error: unexpected {type(error).__name__}: {lines[0][:300] if lines else ''} "
            f"(set {TRACEBACK_ENV}=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
    print(path)
    return 0
