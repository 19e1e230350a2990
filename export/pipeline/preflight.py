"""What is checked before anything is built: the model name, the version and the files the build reads.

A typo in ``--version``, an unknown weights name, a missing weights file or one of the wrong format
fails in a second, with one line, before TensorFlow builds anything and before anything is written.
This module is the one place these checks live: the pipeline (``run``, ``write_version``), the
command line and ``export_model`` all call ``check_target`` once per export, and every loader of a
user's file calls ``require_file``. Offline (``KTS_OFFLINE``), published weights missing from the
cache are reported here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from export.pipeline.model_export import ModelExport
from export.pipeline.publish import check_version_free, model_base
from export.weights import formats
from export.weights.formats import require_file

# What an input file claims to be → the quick check that it is (a few bytes read, no TensorFlow).
FORMAT_CHECKS = {
    "weights file": formats.check_keras_weights,
    "checkpoint": formats.check_torch_checkpoint,
    "pickle": formats.check_pickle,
    "model file": formats.check_keras_model,
}


@dataclass(frozen=True)
class Target:
    """A checked destination: ``base`` = ``<models_dir>/<name>`` (a directory, or an s3:// or gs:// URL), the
    version to write (None: the next)."""

    base: Path | str
    name: str
    version: int | None
    force: bool


def check_target(models_dir: str | Path, name: str, version: int | None, force: bool) -> Target:
    """The model name is plain, ``<models_dir>/<name>`` can be a model directory, the version is free."""
    base = model_base(models_dir, name)
    check_version_free(base, version, force)
    return Target(base, name, version, force)


def preflight(spec: ModelExport, models_dir: str | Path, name: str, version: int | None, force: bool) -> Target:
    """Check the target, the weights name and the input files of ``spec`` (their existence and format)."""
    target = check_target(models_dir, name, version, force)
    preset = spec.weights_preset()
    if preset is not None:
        from export.weights.fetch import cached, cached_path, is_offline

        if is_offline() and cached(preset) is None and not cached_path(preset).is_file():
            spec.fetch()  # raises the offline error: what to fetch and how
    for what, path in spec.input_files().items():
        require_file(path, what)
        check = FORMAT_CHECKS.get(what)
        if check is not None:
            check(path)
    return target
