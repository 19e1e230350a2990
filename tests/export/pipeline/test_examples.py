"""Warmup examples: the first item of each batched input, per-example settings included.

A warmup record is replayed through the official server's batcher when batching is on, so a setting
given one value per example must shrink with its batch (a [2] setting beside a [1] batch is refused).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from export.pipeline.endpoint import Endpoint
from export.pipeline.examples import first_items
from export.signatures.per_example import per_example_spec

ENDPOINT = Endpoint(
    "generate",
    lambda z, psi: {"y": z},
    [tf.TensorSpec([None, 4], tf.float32, name="z"), per_example_spec(tf.float32, "psi")],
)


def test_a_per_example_setting_is_cut_to_the_first_item_with_its_batch():
    z = np.zeros((2, 4), np.float32)
    warmup = first_items({"z": z, "psi": np.array([0.5, 0.7], np.float32)}, ENDPOINT)
    assert warmup["z"].shape == (1, 4) and warmup["psi"].tolist() == [0.5]


def test_a_scalar_setting_stays_a_scalar():
    warmup = first_items({"z": np.zeros((2, 4), np.float32), "psi": np.float32(0.5)}, ENDPOINT)
    assert warmup["z"].shape == (1, 4) and warmup["psi"].shape == () and warmup["psi"] == np.float32(0.5)
