"""Loading a Keras weights file into a built model, with the same one-line errors for every model.

Every model's weights go through ``load_keras_weights``; the file check and its message are
``export.weights.formats.require_file``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from export.errors import ExportError
from export.weights.formats import require_file


def load_keras_weights(model: Any, path: str | Path, what: str) -> None:
    """``model.load_weights(path)``; a missing file, or one that does not fit ``what``, is an ExportError.

    The pipeline checked the file before the build (``export.pipeline.preflight``); the loader only explains a
    failure, so a direct caller gets the same "weights file not found" line.
    """
    try:
        model.load_weights(str(path))
    except Exception as error:  # Keras raises ValueError, OSError, KeyError… for a file that does not fit
        require_file(path, "weights file")
        lines = str(error).strip().splitlines()
        reason = lines[0][:300] if lines else type(error).__name__
        raise ExportError(f"cannot load Keras weights {path}: the file does not fit {what} ({reason})") from None
