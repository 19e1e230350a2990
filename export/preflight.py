"""What is checked before anything is built: the model name, the version and the files the build reads.

A typo in ``--version`` or a weights path fails in a second, with one line, before TensorFlow builds
anything and before anything is written.
"""

from __future__ import annotations

from pathlib import Path

from export.errors import ExportError
from export.model_export import ModelExport
from export.publish import check_version_free, model_base


def require_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path if it is a readable file; otherwise ExportError "<what> not found: <path>"."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{what} not found: {path}")
    return path


def preflight(spec: ModelExport, models_dir: str | Path, name: str, version: int | None, force: bool) -> Path:
    """Check the target and the input files of ``spec``; returns ``<models_dir>/<name>``."""
    base = model_base(models_dir, name)
    check_version_free(base, version, force)
    for what, path in spec.input_files().items():
        require_file(path, what)
    return base
