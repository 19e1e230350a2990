"""The verify stage: reload the written SavedModel and compare every signature with the in-process trace.

Integer, string and PNG outputs must be equal; float outputs may differ by what a reordered float32
reduction can change (``export.pipeline.tolerance``), unless the export states its own ``atol``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf

from export.errors import ExportError
from export.pipeline.tolerance import float_tolerance

Outputs = dict[str, np.ndarray]


def compare(signature: str, got: Mapping[str, tf.Tensor], expected: Outputs, atol: float | None = None) -> None:
    """Every output of ``signature`` as expected: equal, or for floats within ``atol`` (None: the
    reordering tolerance of that output, ``export.pipeline.tolerance.float_tolerance``)."""
    for key, want in expected.items():
        if key not in got:
            raise ExportError(f"verification failed: signature {signature!r} has no output {key!r}")
        have = np.asarray(got[key])
        if have.shape != want.shape:
            raise ExportError(f"verification failed: {signature}/{key} shape {have.shape} != {want.shape}")
        if np.issubdtype(want.dtype, np.floating):
            diff = float(np.max(np.abs(have.astype(np.float64) - want), initial=0.0))
            allowed = float_tolerance(want) if atol is None else atol
            if not diff <= allowed:
                raise ExportError(f"verification failed: {signature}/{key} max abs diff {diff:.3g} > {allowed:.3g}")
        elif not np.array_equal(have, want):
            raise ExportError(f"verification failed: {signature}/{key} differs from the in-process model")


def verify(
    directory: Path,
    examples: Mapping[str, Mapping[str, np.ndarray]],
    expected: Mapping[str, Outputs],
    warmup: Mapping[str, Mapping[str, np.ndarray]],
    atol: float | None,
) -> None:
    """Reload the written SavedModel, compare every signature and run the warmup requests through it."""
    loaded = tf.saved_model.load(str(directory))
    for signature, inputs in examples.items():
        compare(signature, loaded.signatures[signature](**_as_tensors(inputs)), expected[signature], atol)
        if any(np.shape(warmup[signature][k]) != np.shape(v) for k, v in inputs.items()):
            loaded.signatures[signature](**_as_tensors(warmup[signature]))


def _as_tensors(inputs: Mapping[str, np.ndarray]) -> dict[str, tf.Tensor]:
    return {key: tf.constant(value) for key, value in inputs.items()}
