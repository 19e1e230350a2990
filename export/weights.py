"""Loading a Keras weights file into a built model, with the same one-line error for every model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from export.errors import ExportError


def load_keras_weights(model: Any, path: str | Path, what: str) -> None:
    """``model.load_weights(path)``; a file that does not fit ``what`` is an ExportError naming both."""
    try:
        model.load_weights(str(path))
    except Exception as error:  # Keras raises ValueError, OSError, KeyError… for a file that does not fit
        lines = str(error).strip().splitlines()
        reason = lines[0][:300] if lines else type(error).__name__
        raise ExportError(f"cannot load Keras weights {path}: the file does not fit {what} ({reason})") from None
