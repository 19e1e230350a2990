"""Example inputs of a signature: checked against its specs, drawn from them when none are given.

Every signature is verified on its examples and warmed up with their first item, so each one needs
examples of the right names, dtypes and shapes. Random numbers do for numeric inputs; text inputs
get short words; anything that needs real data (encoded images, token ids from a small vocabulary)
must be given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from export.errors import ExportError
from export.pipeline.endpoint import Endpoint

EXAMPLE_BATCH = 2
FREE_DIMENSION = 8  # size given to an unknown non-batch dimension of a drawn example
EXAMPLE_TEXTS = (b"an example sentence", b"another one")


def _batched(spec: tf.TensorSpec) -> bool:
    return spec.shape.rank is not None and spec.shape.rank > 0 and spec.shape[0] is None


def random_inputs(specs: Sequence[tf.TensorSpec], seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs for ``specs``: batch ``EXAMPLE_BATCH``, unknown dimensions ``FREE_DIMENSION``."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for spec in specs:
        if spec.shape.rank is None:
            raise ExportError(f"input {spec.name!r} has an unknown rank: give example inputs for it")
        shape = [
            EXAMPLE_BATCH if i == 0 and d is None else (FREE_DIMENSION if d is None else d)
            for i, d in enumerate(spec.shape.as_list())
        ]
        dtype = spec.dtype
        if dtype == tf.string:
            count = int(np.prod(shape))
            value = np.array([EXAMPLE_TEXTS[i % len(EXAMPLE_TEXTS)] for i in range(count)], dtype=object)
            inputs[spec.name] = value.reshape(shape)
        elif dtype.is_bool:
            inputs[spec.name] = rng.random(shape) < 0.5
        elif dtype.is_integer:
            inputs[spec.name] = rng.integers(0, 10, shape).astype(dtype.as_numpy_dtype)
        elif dtype.is_floating:
            inputs[spec.name] = rng.standard_normal(shape).astype(dtype.as_numpy_dtype)
        else:
            raise ExportError(f"input {spec.name!r} is {dtype.name}: give example inputs for it")
    return inputs


def _as_spec_array(value: Any, spec: tf.TensorSpec, signature: str) -> np.ndarray:
    """``value`` as a numpy array of the spec's dtype and a compatible shape, or a clear error."""
    where = f"example input {signature}/{spec.name}"
    try:
        array = np.asarray(value, dtype=object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype)
    except (TypeError, ValueError) as error:
        raise ExportError(f"{where} cannot be read as {spec.dtype.name}: {error}") from None
    if spec.dtype == tf.string:  # text from an .npz arrives as str: the wire carries bytes
        flat = [s.encode() if isinstance(s, str) else s for s in array.reshape(-1)]
        array = np.array(flat, dtype=object).reshape(array.shape)
    if not spec.shape.is_compatible_with(array.shape):
        raise ExportError(f"{where} has shape {list(array.shape)}, the signature takes {spec.shape}")
    if array.ndim and array.shape[0] == 0:
        raise ExportError(f"{where} is empty: give at least one item")
    return array


def complete_examples(
    endpoints: Sequence[Endpoint], given: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, np.ndarray]]:
    """Examples for every endpoint: ``given[name]``, else ``endpoint.examples``, else drawn from the specs."""
    unknown = sorted(set(given) - {e.name for e in endpoints})
    if unknown:
        raise ExportError(f"examples given for unknown signature {unknown[0]!r}")
    examples = {}
    for endpoint in endpoints:
        inputs = given.get(endpoint.name)
        if inputs is None:
            inputs = endpoint.examples
        if inputs is None:
            inputs = random_inputs(endpoint.input_signature)
        names = [spec.name for spec in endpoint.input_signature]
        missing = [n for n in names if n not in inputs]
        extra = sorted(set(inputs) - set(names))
        if missing or extra:
            raise ExportError(
                f"examples of signature {endpoint.name!r} must have exactly the inputs {names}; "
                f"missing {missing}, unexpected {extra}"
            )
        examples[endpoint.name] = {
            spec.name: _as_spec_array(inputs[spec.name], spec, endpoint.name) for spec in endpoint.input_signature
        }
    return examples


def first_items(inputs: Mapping[str, np.ndarray], endpoint: Endpoint) -> dict[str, np.ndarray]:
    """The first item of every batched input (warmup requests stay small); other inputs unchanged. An input
    of unknown rank given with one value per example (a per-example setting) counts as batched."""
    batch = next((len(inputs[s.name]) for s in endpoint.input_signature if _batched(s)), None)

    def batched(spec: tf.TensorSpec) -> bool:
        value = inputs[spec.name]
        return _batched(spec) or (spec.shape.rank is None and np.ndim(value) > 0 and len(value) == batch)

    return {
        spec.name: inputs[spec.name][:1] if batched(spec) else inputs[spec.name] for spec in endpoint.input_signature
    }
