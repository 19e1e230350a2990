"""The published Keras EfficientNet files (and any Keras weights file) into the built model.

The published Keras ImageNet files store the ImageNet *standard deviation* in the
Normalization layer's variance slot; ``keras.applications`` compensates with an extra Rescaling
layer that it adds only when it downloads the weights itself. A model built without that layer
and given the file by ``load_weights`` normalises by √std instead of std, silently. Here every
loaded file is checked: when its variance equals the published std, it is replaced by std², so
the model computes ``(x/255 - mean) / std`` whatever the file's origin.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from export.efficientnet.networks.efficientnet import input_normalization, set_input_statistics
from export.efficientnet.networks.scaling import Scaling
from export.signatures.image_options import IMAGENET_STD
from export.weights.keras_file import load_keras_weights


def fix_published_normalization(model: keras.Model) -> bool:
    """Turn a std-in-the-variance-slot Normalization into a true variance; True if it did."""
    norm = input_normalization(model)
    variance = np.asarray(norm.adapt_variance.numpy(), dtype=np.float64)
    if np.allclose(variance, IMAGENET_STD, rtol=0, atol=1e-6):
        set_input_statistics(model, norm.adapt_mean.numpy(), variance**2)
        return True
    norm.finalize_state()  # weight loaders assign variables without refreshing the layer's snapshot
    return False


def load_weights(model: keras.Model, path: Path | None, scaling: Scaling) -> str:
    """Load a weights file (None: keep the random init); returns a description for export_info."""
    if path is None:
        return "none (random initialisation)"
    load_keras_weights(model, path, f"EfficientNet-{scaling.name}")
    if fix_published_normalization(model):
        return f"{path} (published std-in-variance normalisation corrected)"
    return str(path)
