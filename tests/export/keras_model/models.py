"""Small Keras models of every kind a user brings: Sequential, functional 2-in/2-out, subclassed, text, image.

``build_subclassed`` is also what ``python -m export keras tests.export.keras_model.models:build_subclassed``
imports (the module:function way).
"""

from __future__ import annotations

import keras
import numpy as np

TEXTS = ["the quick brown fox", "jumps over the lazy dog", "hello world", "a lazy afternoon"]


def sequential() -> keras.Model:
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((4,), name="features"),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3, activation="softmax", name="probabilities"),
        ],
        name="flowers",
    )


def two_in_two_out() -> keras.Model:
    """Inputs ``age`` [N, 3] and ``history`` [N, 5, 2]; outputs ``price`` [N, 1] and ``category`` [N, 4]."""
    keras.utils.set_random_seed(2)
    age = keras.Input((3,), name="age")
    history = keras.Input((5, 2), name="history")
    summary = keras.layers.GlobalAveragePooling1D()(history)
    hidden = keras.layers.Dense(6, activation="tanh")(keras.layers.Concatenate()([age, summary]))
    return keras.Model(
        {"age": age, "history": history},
        {
            "price": keras.layers.Dense(1, name="price")(hidden),
            "category": keras.layers.Dense(4, activation="softmax", name="category")(hidden),
        },
    )


class TwoLayers(keras.Model):
    """A subclassed model: no symbolic inputs, built by calling it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.out = keras.layers.Dense(2)

    def call(self, measurements):
        return self.out(self.hidden(measurements))


def build_subclassed() -> keras.Model:
    keras.utils.set_random_seed(3)
    model = TwoLayers(name="two_layers")
    model(np.zeros((1, 5), np.float32))
    return model


def text_classifier() -> keras.Model:
    """A string input ``text`` [N, 1] through TextVectorization (a lookup table) → ``sentiment`` [N, 2]."""
    keras.utils.set_random_seed(4)
    vectorize = keras.layers.TextVectorization(max_tokens=40, output_sequence_length=6)
    vectorize.adapt(TEXTS)
    text = keras.Input((1,), dtype="string", name="text")
    embedded = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(40, 8)(vectorize(text)))
    return keras.Model(text, keras.layers.Dense(2, activation="softmax", name="sentiment")(embedded))


def image_classifier(size: int = 32) -> keras.Model:
    keras.utils.set_random_seed(5)
    image = keras.Input((size, size, 3), name="image")
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu")(image))
    return keras.Model(image, keras.layers.Dense(3, activation="softmax", name="probabilities")(features))
