"""The write stage: trace every endpoint, write the SavedModel, fix method names, count parameters.

The expected outputs of the verify stage come from here: each endpoint is called on its examples
through the very function the archive traced (same input signature, same kernels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from export.errors import ExportError
from export.pipeline import inspection
from export.pipeline.endpoint import Endpoint
from protocol.methods import DEFAULT_SIGNATURE, PREDICT_METHOD

Outputs = dict[str, np.ndarray]


def validate_endpoints(endpoints: Sequence[Endpoint]) -> None:
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


def write_saved_model(
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


def set_method_names(directory: Path, endpoints: Sequence[Endpoint]) -> None:
    """ExportArchive writes every signature as predict; TF Serving's classify/regress APIs check the method."""
    overrides = {e.name: e.method_name for e in endpoints if e.method_name != PREDICT_METHOD}
    if not overrides:
        return
    proto = inspection.read_saved_model_proto(directory)
    for meta_graph in proto.meta_graphs:
        for key, method in overrides.items():
            meta_graph.signature_def[key].method_name = method
    (directory / "saved_model.pb").write_bytes(proto.SerializeToString())


def _count(weights: Sequence[Any]) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def parameter_counts(trackables: Sequence[Any]) -> dict[str, int]:
    layers = [t for t in trackables if isinstance(t, keras.layers.Layer)]
    trainable = sum(_count(layer.trainable_weights) for layer in layers)
    non_trainable = sum(_count(layer.non_trainable_weights) for layer in layers)
    return {"trainable": trainable, "non_trainable": non_trainable, "total": trainable + non_trainable}
