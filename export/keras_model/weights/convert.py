"""Where a user's model comes from: a ``.keras`` file, a legacy ``.h5`` file, or ``module:function``.

Every failure is an ``ExportError`` of one line that says what to do: a file that is not a Keras
model, a model whose custom layers' code is not importable (build it in code and pass
``module:function``), a function that does not return a Keras model.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import sys
from pathlib import Path
from typing import Any

from export.errors import ExportError
from export.weights.formats import KERAS_MODEL_SUFFIXES as MODEL_SUFFIXES
from export.weights.formats import check_keras_model

_FUNCTION_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def is_function_reference(source: str) -> bool:
    """``package.module:function`` and not an existing file (a path has a suffix or a separator)."""
    return bool(_FUNCTION_RE.match(source)) and not source.endswith(MODEL_SUFFIXES) and not Path(source).exists()


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__


def _missing_class(error: BaseException) -> str | None:
    """The class name Keras could not find while deserializing, if that is the failure."""
    match = re.search(r"[Cc]ould not (?:locate|deserialize)[^'\"]*['\"]([\w.>]+)['\"]", str(error))
    if match:
        return match.group(1)
    match = re.search(r"Unknown (?:layer|object|class)[^'\"]*['\"]?([\w.]+)", str(error))
    return match.group(1) if match else None


def load_model_file(path: Path) -> Any:
    """A Keras model from a ``.keras`` or legacy ``.h5`` file (safe mode: no arbitrary code)."""
    import keras

    check_keras_model(path)
    try:
        model = keras.saving.load_model(str(path), compile=False)
    except Exception as error:  # zip, HDF5, JSON and deserialization errors all mean "cannot load"
        missing = _missing_class(error)
        if missing:
            raise ExportError(
                f"{path} uses the custom class {missing!r}, whose code is not importable here: "
                "build the model in code and pass module:function instead of the file"
            ) from None
        if "Lambda" in str(error) and "safe_mode" in str(error):
            raise ExportError(
                f"{path} holds a Lambda layer, which Keras only loads as code: "
                "build the model in code and pass module:function instead of the file"
            ) from None
        raise ExportError(f"{path} is not a Keras model file Keras can load: {_first_line(error)}") from None
    return _checked_model(model, str(path))


def call_model_function(reference: str) -> Any:
    """``module:function`` → the Keras model the function returns (the module imported from the cwd too)."""
    module_name, _, function_name = reference.partition(":")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # ``python -m export`` from a project directory finds its modules
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ExportError(f"cannot import {module_name!r} for {reference}: {_first_line(error)}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ExportError(f"{module_name!r} has no function {function_name!r} (from {reference})")
    try:
        model = function()
    except Exception as error:
        raise ExportError(f"{reference}() failed: {type(error).__name__}: {_first_line(error)}") from None
    return _checked_model(model, f"{reference}()")


def _checked_model(model: Any, what: str) -> Any:
    import keras

    if not isinstance(model, keras.Model):
        raise ExportError(f"{what} is a {type(model).__name__}, not a keras.Model")
    if not model.built:
        raise ExportError(
            f"{what} is a model that was never built: call it once on example data, or build it with keras.Input"
        )
    return model


def load_model(source: str) -> Any:
    """The model named by ``source``: a model file path or ``module:function``."""
    if is_function_reference(source):
        return call_model_function(source)
    return load_model_file(Path(source))


def source_record(source: str) -> dict[str, str]:
    """export_info's ``source``: what was exported and the SHA-256 of the file (or of the function's module)."""
    if is_function_reference(source):
        module = sys.modules.get(source.partition(":")[0])
        file = getattr(module, "__file__", None)
        record = {"kind": "function", "reference": source}
        if file and Path(file).is_file():
            record.update(file=str(file), sha256=hashlib.sha256(Path(file).read_bytes()).hexdigest())
        return record
    path = Path(source)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {
        "kind": "h5" if path.suffix in (".h5", ".hdf5") else "keras",
        "file": str(path),
        "sha256": digest.hexdigest(),
    }
