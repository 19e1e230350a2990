"""Loading EfficientNet weights: published ImageNet files or a local weights file.

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

from export.efficientnet.models.efficientnet import input_normalization, set_input_statistics
from export.efficientnet.models.scaling import VARIANTS, Scaling
from export.errors import ExportError
from export.image_options import IMAGENET_STD
from export.weights import load_keras_weights

IMAGENET_URL = "https://storage.googleapis.com/keras-applications/efficientnet{variant}.h5"
IMAGENET_HASHES = {
    "b0": "902e53a9f72be733fc0bcb005b3ebbac",
    "b1": "1d254153d4ab51201f1646940f018540",
    "b2": "b15cce36ff4dcbd00b6dd88e7857a6ad",
    "b3": "ffd1fdc53d0ce67064dc6a9c7960ede0",
    "b4": "18c95ad55216b8f92d7e70b3a046e2fc",
    "b5": "ace28f2a6363774853a83a0b21b9421a",
    "b6": "165f6e37dce68623721b423839de8be5",
    "b7": "8c03f828fec3ef71311cd463b6759d99",
}


def fix_published_normalization(model: keras.Model) -> bool:
    """Turn a std-in-the-variance-slot Normalization into a true variance; True if it did."""
    norm = input_normalization(model)
    variance = np.asarray(norm.adapt_variance.numpy(), dtype=np.float64)
    if np.allclose(variance, IMAGENET_STD, rtol=0, atol=1e-6):
        set_input_statistics(model, norm.adapt_mean.numpy(), variance**2)
        return True
    norm.finalize_state()  # weight loaders assign variables without refreshing the layer's snapshot
    return False


def imagenet_weights_file(scaling: Scaling) -> Path:
    """Download (or take from the Keras cache) the published ImageNet file for a B0–B7 variant."""
    if scaling.name not in VARIANTS:
        raise ExportError("--weights imagenet exists only for variants b0-b7, not custom scaling")
    variant = scaling.name
    try:
        path = keras.utils.get_file(
            f"efficientnet{variant}.h5",
            IMAGENET_URL.format(variant=variant),
            cache_subdir="models",
            file_hash=IMAGENET_HASHES[variant],
        )
    except Exception as error:  # network failure, hash mismatch: all mean "no file"
        raise ExportError(
            f"could not download the ImageNet weights for {variant} ({error}); "
            f"download efficientnet{variant}.h5 elsewhere and pass --weights PATH"
        ) from None
    return Path(path)


def resolve_weights(source: str, scaling: Scaling) -> Path | None:
    """The weights file ``none`` | ``imagenet`` | PATH stands for (None: keep the random initialisation)."""
    if source == "none":
        return None
    return imagenet_weights_file(scaling) if source == "imagenet" else Path(source)


def load_weights(model: keras.Model, path: Path | None, scaling: Scaling) -> str:
    """Load a resolved weights file (None: keep the random init); returns a description for export_info."""
    if path is None:
        return "none (random initialisation)"
    load_keras_weights(model, path, f"EfficientNet-{scaling.name}")
    if fix_published_normalization(model):
        return f"{path} (published std-in-variance normalisation corrected)"
    return str(path)
