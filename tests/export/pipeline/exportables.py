"""Small Exportables the pipeline's tests (and the object-storage tests that publish) hand to the pipeline."""

import keras
import numpy as np
import tensorflow as tf

from export.pipeline.endpoint import Endpoint
from export.pipeline.model_export import Exportable


def half_plus_two(**overrides) -> Exportable:
    """A one-weight model y = 0.5x + 2 with one signature and one example batch of two rows."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.set_weights([np.array([[0.5]], np.float32), np.array([2.0], np.float32)])
    endpoint = Endpoint("serving_default", lambda x: {"y": model(x)}, [tf.TensorSpec([None, 1], tf.float32, name="x")])
    values = dict(
        model=model,
        endpoints=[endpoint],
        info={"model": "half_plus_two"},
        examples={"serving_default": {"x": np.array([[1.0], [4.0]], np.float32)}},
    )
    return Exportable(**{**values, **overrides})
