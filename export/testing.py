"""Models for tests and benchmarks that must see their outputs change: built from the project's own networks.

A randomly initialised EfficientNet answers every picture with 1/1000 ± 1e-7 for every class (its features
are ~3e-5), so comparisons made with it pass whatever the preprocessing or the loaded weights.
"""

from __future__ import annotations

import numpy as np


def informative_b0():
    """B0 whose outputs are peaked and picture-dependent; deterministic for a given Keras seed."""
    import keras

    from export.efficientnet.models.efficientnet import build_efficientnet
    from export.efficientnet.weights.presets import variant_scaling

    keras.utils.set_random_seed(0)
    model = build_efficientnet(variant_scaling("b0"))
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0  # one training-mode pass then stores this batch's statistics
    batch = np.random.default_rng(1).uniform(0, 255, (8, 224, 224, 3)).astype(np.float32)
    model(batch, training=True)
    for layer in norms:
        layer.momentum = 0.99
    head = model.get_layer("predictions")
    head.kernel.assign(head.kernel * 30.0)
    return model
