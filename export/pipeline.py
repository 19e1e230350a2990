"""Export a model as a verified, atomically published TF Serving version: stage → write → verify → warmup → publish.

``run(spec)`` is what ``python -m export <model>`` does for every model: check the name, version and
input files (``export.preflight``, once), build the ``Exportable``, then write it. Writing it
(``write_version``, or ``write_checked`` for a target already checked) writes the
SavedModel with ``keras.export.ExportArchive`` in a staging directory, derives every signature's
expected outputs by calling the traced endpoints on their example inputs in-process, fixes method
names for ``:classify``/``:regress``, reloads the SavedModel and compares, adds ``assets.extra``
(warmup requests from the examples, export_info.json) and renames the version into place.
"""

from __future__ import annotations

import datetime
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from export import inspection, publish
from export.endpoint import Endpoint
from export.errors import ExportError
from export.examples import complete_examples, first_items
from export.model_export import Exportable, ModelExport
from export.preflight import Target, check_target, preflight
from export.warmup import write_warmup_requests
from protocol.layout import ASSETS_EXTRA, WARMUP_FILE
from protocol.methods import DEFAULT_SIGNATURE, PREDICT_METHOD

Outputs = dict[str, np.ndarray]


def run(
    spec: ModelExport,
    *,
    models_dir: str | Path = "models",
    name: str | None = None,
    version: int | None = None,
    force: bool = False,
) -> Path:
    """Check, build and publish one version of ``spec``; returns ``<models_dir>/<name>/<version>``."""
    name = spec.default_name() if name is None else name
    target = preflight(spec, models_dir, name, version, force)  # fails in a second, before the slow build
    return write_checked(spec.build(), target)


def write_version(
    exportable: Exportable, *, models_dir: str | Path, name: str, version: int | None = None, force: bool = False
) -> Path:
    """Write, verify and atomically publish ``exportable``; returns ``<models_dir>/<name>/<version>``."""
    return write_checked(exportable, check_target(models_dir, name, version, force))


def write_checked(exportable: Exportable, target: Target) -> Path:
    """``write_version`` for a target ``export.preflight`` has already checked (the checks run once)."""
    base, name, version, force = target.base, target.name, target.version, target.force
    endpoints = list(exportable.endpoints)
    _validate_endpoints(endpoints)
    examples = complete_examples(endpoints, exportable.examples)
    model = exportable.model
    trackables = list(model) if isinstance(model, (list, tuple)) else [model]
    with publish.staging_directory(base) as staging:
        saved = staging / "saved_model"
        expected = _write_saved_model(saved, trackables, endpoints, examples)
        _set_method_names(saved, endpoints)
        warmup = {
            signature: first_items(inputs, _endpoint(endpoints, signature)) for signature, inputs in examples.items()
        }
        _verify(saved, examples, expected, warmup, exportable.atol)
        for asset in exportable.assets:
            (saved / "assets").mkdir(exist_ok=True)
            shutil.copy(asset, saved / "assets" / Path(asset).name)
        extra = saved / ASSETS_EXTRA
        write_warmup_requests(saved / WARMUP_FILE, name, warmup, {e.name: e.method_name for e in endpoints})
        record = {
            **exportable.info,
            "name": name,
            "parameters": _parameter_counts(trackables),
            "signatures": inspection.signature_defs(saved),
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        (extra / inspection.INFO_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        return publish.publish(saved, staging, base, version, force)


def _endpoint(endpoints: Sequence[Endpoint], name: str) -> Endpoint:
    return next(e for e in endpoints if e.name == name)


def _validate_endpoints(endpoints: Sequence[Endpoint]) -> None:
    names = [e.name for e in endpoints]
    if DEFAULT_SIGNATURE not in names:
        raise ExportError(f"an export needs an endpoint named {DEFAULT_SIGNATURE!r}, got {names}")
    if len(set(names)) != len(names):
        raise ExportError(f"endpoint names must be unique, got {names}")
    for endpoint in endpoints:
        inputs = [spec.name for spec in endpoint.input_signature]
        if not all(inputs):
            raise ExportError(f"every input of endpoint {endpoint.name!r} needs a name (tf.TensorSpec(..., name=...))")
        if len(set(inputs)) != len(inputs):
            raise ExportError(f"input names of endpoint {endpoint.name!r} must be unique, got {inputs}")


def _write_saved_model(
    directory: Path,
    trackables: Sequence[Any],
    endpoints: Sequence[Endpoint],
    examples: Mapping[str, Mapping[str, np.ndarray]],
) -> dict[str, Outputs]:
    """Write the SavedModel; returns each endpoint's outputs on its examples, computed in-process.

    The expected outputs come from the very functions the archive traced (same input signature,
    same kernels), so the reloaded model must reproduce them: integer, string and PNG outputs
    exactly, floats within the tolerance.
    """
    archive = keras.export.ExportArchive()
    # Layers are not tracked: their Keras variables would be saved beside the tf.Variables the
    # endpoints capture (ExportArchive keeps both), doubling the SavedModel on disk and in memory.
    # Only their resources are (the lookup tables of TextVectorization, StringLookup…).
    for trackable in trackables:
        if isinstance(trackable, keras.layers.Layer):
            for resource in _resources(trackable):
                archive.track(resource)
        else:
            archive.track(trackable)
    expected = {}
    # serving_default first: ExportArchive aliases its first endpoint as the default.
    for endpoint in sorted(endpoints, key=lambda e: e.name != DEFAULT_SIGNATURE):
        traced = archive.add_endpoint(endpoint.name, endpoint.fn, input_signature=list(endpoint.input_signature))
        inputs = examples[endpoint.name]
        try:
            outputs = traced(*[tf.constant(inputs[spec.name], spec.dtype) for spec in endpoint.input_signature])
        except (tf.errors.OpError, ValueError, TypeError) as error:
            raise ExportError(f"endpoint {endpoint.name!r} fails on its example inputs: {_first_line(error)}") from None
        if not isinstance(outputs, Mapping):
            raise ExportError(
                f"endpoint {endpoint.name!r} must return a dict of named outputs, got {type(outputs).__name__}"
            )
        expected[endpoint.name] = {key: np.asarray(value) for key, value in outputs.items()}
    archive.write_out(str(directory), verbose=False)
    return expected


def _resources(layer: keras.layers.Layer) -> list[Any]:
    """The TensorFlow resources (lookup tables) a layer holds anywhere inside it."""
    try:
        descendants = tf.train.TrackableView(layer).descendants()
    except TypeError:  # a proxy object TensorFlow cannot walk: the layer has no lookup tables to lose
        return []
    return [d for d in descendants if isinstance(d, tf.saved_model.experimental.TrackableResource)]


def _first_line(error: BaseException) -> str:
    text = getattr(error, "message", None) or str(error)
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__


def _set_method_names(directory: Path, endpoints: Sequence[Endpoint]) -> None:
    """ExportArchive writes every signature as predict; TF Serving's classify/regress APIs check the method."""
    overrides = {e.name: e.method_name for e in endpoints if e.method_name != PREDICT_METHOD}
    if not overrides:
        return
    proto = inspection.read_saved_model_proto(directory)
    for meta_graph in proto.meta_graphs:
        for key, method in overrides.items():
            meta_graph.signature_def[key].method_name = method
    (directory / "saved_model.pb").write_bytes(proto.SerializeToString())


def _compare(signature: str, got: Mapping[str, tf.Tensor], expected: Outputs, atol: float) -> None:
    for key, want in expected.items():
        if key not in got:
            raise ExportError(f"verification failed: signature {signature!r} has no output {key!r}")
        have = np.asarray(got[key])
        if have.shape != want.shape:
            raise ExportError(f"verification failed: {signature}/{key} shape {have.shape} != {want.shape}")
        if np.issubdtype(want.dtype, np.floating):
            diff = float(np.max(np.abs(have.astype(np.float64) - want), initial=0.0))
            if not diff <= atol:
                raise ExportError(f"verification failed: {signature}/{key} max abs diff {diff:.3g} > {atol:g}")
        elif not np.array_equal(have, want):
            raise ExportError(f"verification failed: {signature}/{key} differs from the in-process model")


def _verify(
    directory: Path,
    examples: Mapping[str, Mapping[str, np.ndarray]],
    expected: Mapping[str, Outputs],
    warmup: Mapping[str, Mapping[str, np.ndarray]],
    atol: float,
) -> None:
    """Reload the written SavedModel, compare every signature and run the warmup requests through it."""
    loaded = tf.saved_model.load(str(directory))
    for signature, inputs in examples.items():
        _compare(signature, loaded.signatures[signature](**_as_tensors(inputs)), expected[signature], atol)
        if any(np.shape(warmup[signature][k]) != np.shape(v) for k, v in inputs.items()):
            loaded.signatures[signature](**_as_tensors(warmup[signature]))


def _as_tensors(inputs: Mapping[str, np.ndarray]) -> dict[str, tf.Tensor]:
    return {key: tf.constant(value) for key, value in inputs.items()}


def _count(weights: Sequence[Any]) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def _parameter_counts(trackables: Sequence[Any]) -> dict[str, int]:
    layers = [t for t in trackables if isinstance(t, keras.layers.Layer)]
    trainable = sum(_count(layer.trainable_weights) for layer in layers)
    non_trainable = sum(_count(layer.non_trainable_weights) for layer in layers)
    return {"trainable": trainable, "non_trainable": non_trainable, "total": trainable + non_trainable}
