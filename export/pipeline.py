"""Export a Keras model as a verified, atomically published TF Serving version.

Every model goes through ``export_version``: it writes the SavedModel with
``keras.export.ExportArchive`` in a staging directory, fixes signature method names for
``:classify``/``:regress``, reloads the result and checks it against the in-process model,
adds ``assets.extra`` (warmup requests, export_info.json) and renames it into place.
"""

from __future__ import annotations

import datetime
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from export import inspection, publish
from export.warmup import write_warmup_requests
from export.errors import ExportError
from protocol.layout import ASSETS_EXTRA, WARMUP_FILE
from protocol.methods import CLASSIFY_METHOD, PREDICT_METHOD, REGRESS_METHOD  # noqa: F401 - models import them here

Check = tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class Endpoint:
    """One serving signature: ``fn`` takes tensors in the order of ``input_signature``.

    Each spec's ``name`` becomes the input key clients use; ``fn`` returns a dict whose
    keys become the output names.
    """

    name: str
    fn: Callable[..., dict[str, tf.Tensor]]
    input_signature: Sequence[tf.TensorSpec]
    method_name: str = PREDICT_METHOD


def _validate_endpoints(endpoints: Sequence[Endpoint]) -> None:
    names = [e.name for e in endpoints]
    if "serving_default" not in names:
        raise ExportError("an export needs an endpoint named 'serving_default'")
    if len(set(names)) != len(names):
        raise ExportError(f"endpoint names must be unique, got {names}")
    for endpoint in endpoints:
        if any(not spec.name for spec in endpoint.input_signature):
            raise ExportError(f"every input of endpoint {endpoint.name!r} needs a name")


def _write_saved_model(directory: Path, trackables: Sequence[Any], endpoints: Sequence[Endpoint]) -> None:
    archive = keras.export.ExportArchive()
    # Layers are not tracked: their Keras variables would be saved beside the tf.Variables the
    # endpoints capture (ExportArchive keeps both), doubling the SavedModel on disk and in memory.
    for trackable in trackables:
        if not isinstance(trackable, keras.layers.Layer):
            archive.track(trackable)
    # serving_default first: ExportArchive aliases its first endpoint as the default.
    for endpoint in sorted(endpoints, key=lambda e: e.name != "serving_default"):
        archive.add_endpoint(endpoint.name, endpoint.fn, input_signature=list(endpoint.input_signature))
    archive.write_out(str(directory), verbose=False)


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


def _compare(signature: str, got: Mapping[str, tf.Tensor], expected: Mapping[str, np.ndarray],
             atol: float) -> None:
    for key, want in expected.items():
        if key not in got:
            raise ExportError(f"verification failed: signature {signature!r} has no output {key!r}")
        have, want = np.asarray(got[key]), np.asarray(want)
        if have.shape != want.shape:
            raise ExportError(f"verification failed: {signature}/{key} shape {have.shape} != {want.shape}")
        if np.issubdtype(want.dtype, np.floating):
            diff = float(np.max(np.abs(have.astype(np.float64) - want), initial=0.0))
            if not diff <= atol:
                raise ExportError(f"verification failed: {signature}/{key} max abs diff {diff:.3g} > {atol:g}")
        elif not np.array_equal(have, want):
            raise ExportError(f"verification failed: {signature}/{key} differs from the Keras model")


def _verify(directory: Path, checks: Mapping[str, Check], warmups: Mapping[str, Mapping[str, np.ndarray]],
            atol: float) -> None:
    """Reload the written SavedModel and run the checks and the warmup requests through it."""
    loaded = tf.saved_model.load(str(directory))
    for signature, (inputs, expected) in checks.items():
        _compare(signature, loaded.signatures[signature](**_as_tensors(inputs)), expected, atol)
    for signature, inputs in warmups.items():
        loaded.signatures[signature](**_as_tensors(inputs))


def _as_tensors(inputs: Mapping[str, np.ndarray]) -> dict[str, tf.Tensor]:
    return {key: tf.constant(value) for key, value in inputs.items()}


def _count(weights: Sequence[Any]) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def _parameter_counts(trackables: Sequence[Any]) -> dict[str, int]:
    layers = [t for t in trackables if isinstance(t, keras.layers.Layer)]
    trainable = sum(_count(layer.trainable_weights) for layer in layers)
    non_trainable = sum(_count(layer.non_trainable_weights) for layer in layers)
    return {"trainable": trainable, "non_trainable": non_trainable, "total": trainable + non_trainable}


def export_version(*, model: keras.Model | Sequence[Any], endpoints: Sequence[Endpoint],
                   models_dir: str | Path, name: str, version: int | None = None, force: bool = False,
                   info: Mapping[str, Any], warmup: Mapping[str, Mapping[str, np.ndarray]],
                   checks: Mapping[str, Check], atol: float = 1e-5,
                   assets: Sequence[Path] = ()) -> Path:
    """Write, verify and atomically publish one version; returns ``<models_dir>/<name>/<version>``."""
    _validate_endpoints(endpoints)
    trackables = list(model) if isinstance(model, (list, tuple)) else [model]
    base = Path(models_dir) / name
    publish.check_version_free(base, version, force)
    with publish.staging_directory(base) as staging:
        saved = staging / "saved_model"
        _write_saved_model(saved, trackables, endpoints)
        _set_method_names(saved, endpoints)
        _verify(saved, checks, warmup, atol)
        for asset in assets:
            (saved / "assets").mkdir(exist_ok=True)
            shutil.copy(asset, saved / "assets" / Path(asset).name)
        extra = saved / ASSETS_EXTRA
        write_warmup_requests(saved / WARMUP_FILE, name, warmup)
        record = {
            **info,
            "name": name,
            "parameters": _parameter_counts(trackables),
            "signatures": inspection.signature_defs(saved),
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        (extra / inspection.INFO_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        return publish.publish(saved, base, version, force)

