"""A serving signature as the export pipeline sees it: a function, its named inputs, its method name.

Kept free of TensorFlow imports so that ``import export`` and ``python -m export --help`` stay fast.
Method names are wire facts: they live in ``protocol.methods``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import tensorflow as tf

from protocol.methods import PREDICT_METHOD


@dataclass(frozen=True)
class Endpoint:
    """One serving signature.

    ``fn`` takes tensors in the order of ``input_signature`` and returns a dict of tensors. Each
    spec's ``name`` is the input key clients send; the dict's keys are the output names.
    ``method_name`` is what TF Serving's Classify and Regress APIs check. ``examples`` (input name →
    array) are the inputs the export is verified and warmed up with; without them the pipeline
    draws random ones from the specs, which works for numeric inputs only.
    """

    name: str
    fn: Callable[..., Mapping[str, tf.Tensor]]
    input_signature: Sequence[tf.TensorSpec]
    method_name: str = PREDICT_METHOD
    examples: Mapping[str, np.ndarray | Any] | None = None
