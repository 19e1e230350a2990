"""``python -m export <model> …``: one command line for every model, ``weights`` and ``inspect``.

The common flags are added here; each model's ``ModelExport`` adds its own and builds. Only the
chosen model's module is imported, and TensorFlow only once the cheap checks (model name, version,
weights name, input files and their formats) have passed and published weights are in the cache,
so ``--help``, typos, bad files and existing versions fail in a second, in one line. TensorFlow's
start-up messages (oneDNN, CUDA stubs on CPU-only machines) are kept out of the terminal unless
``EXPORT_VERBOSE=1``; progress of the long stages goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from export.errors import ExportError
from export.pipeline.model_export import ModelExport
from export.weights.presets import NONE

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
VERBOSE_ENV = "EXPORT_VERBOSE"
OTHER_COMMANDS = ("weights", "inspect")


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
        default=NONE,
        help=f"'{NONE}' for random initialisation (default), a published preset by name (imagenet, coco, "
        "ffhq, …: python -m export weights list), or a weights file",
    )
    parser.add_argument(
        "--models-dir",
        default="models",
        help="model repository root, a directory or s3://bucket/prefix or gs://bucket/prefix; the version goes "
        "to <models-dir>/<name>/<version> (default: models)",
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
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the random initialisation (same seed, same model: with --weights none, default 0)",
    )


def _chosen_command(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m export", description="Export Keras models as versioned, verified TF Serving SavedModels."
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{" + ",".join([*MODELS, *OTHER_COMMANDS]) + "}"
    )
    chosen = _chosen_command(argv)
    for command, (summary, _) in MODELS.items():
        sub = commands.add_parser(command, help=summary, description=summary)
        if command == chosen:
            add_common_arguments(sub, command)
            model_export_class(command).add_arguments(sub)
    weights = commands.add_parser("weights", help="list published weights, or fetch them into the cache")
    from export.weights_command import add_arguments as add_weights_arguments

    add_weights_arguments(weights)
    inspect = commands.add_parser("inspect", help="print an export's signatures and export_info")
    inspect.add_argument("path", type=Path, help="a version directory, e.g. models/efficientnet/1")
    return parser


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so an interrupted export removes its staging directory."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@contextlib.contextmanager
def quiet_tensorflow_start() -> Iterator[None]:
    """Import TensorFlow with its start-up lines (absl's pre-init warning, CUDA stubs, oneDNN and CPU
    feature notes) kept out of stderr, unless ``EXPORT_VERBOSE=1``. They are written by C++ before any
    log level applies, so the process's stderr is pointed at a scratch file while the import runs."""
    if os.environ.get(VERBOSE_ENV):
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # later C++ info and warnings
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _export(args: argparse.Namespace) -> Path:
    from export.pipeline.preflight import preflight
    from export.progress import show_on_stderr, step

    show_on_stderr()
    spec = model_export_class(args.command).from_arguments(args)
    name = spec.default_name() if args.name is None else args.name
    target = preflight(spec, args.models_dir, name, args.version, args.force)  # before TensorFlow is imported
    spec.fetch()  # published weights into the cache, with progress, still before TensorFlow
    step("starting TensorFlow")
    with quiet_tensorflow_start():
        import keras
        import tensorflow

        tensorflow.config.list_physical_devices("GPU")  # device start-up lines ("failed call to cuInit") too
        from export.pipeline import write_checked
    keras.utils.set_random_seed(args.seed)  # random weights are the same on every run
    step(f"building {spec.describe()}")
    return write_checked(spec.build(), target)


def _inspect(path: Path) -> str:
    if not (path / "saved_model.pb").is_file():  # before TensorFlow: a wrong path answers at once
        what = "does not exist" if not path.exists() else "is not a SavedModel directory (no saved_model.pb)"
        raise ExportError(f"{path} {what}")
    with quiet_tensorflow_start():
        from export.pipeline.inspection import describe
    return describe(path)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    _stop_on_sigterm()
    try:
        if args.command == "inspect":
            print(_inspect(args.path))
            return 0
        if args.command == "weights":
            from export.progress import show_on_stderr
            from export.weights_command import run as run_weights

            show_on_stderr()
            return run_weights(args)
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
