"""EfficientNet B0–B7: one table of the released networks and their published ImageNet weights.

Each row is a variant's compound-scaling coefficients as released (width, depth, resolution, top
dropout; Tan & Le 2019, and ``keras.applications``) and the Keras applications file of its ImageNet
weights (with the classifier): its MD5 as Keras publishes it (``keras.applications.efficientnet``'s
``WEIGHTS_HASHES``), its size as the Keras applications table gives it, and the paper's ImageNet
top-1 (Table 2). The weights are Apache 2.0, as tensorflow/tpu and keras-applications publish them.
"""

from __future__ import annotations

from export.efficientnet.networks.scaling import Scaling
from export.errors import ExportError
from export.weights.formats import check_keras_weights
from export.weights.presets import Preset

IMAGENET = "imagenet"
URL = "https://storage.googleapis.com/keras-applications/efficientnet{variant}.h5"
LICENCE, LICENCE_URL = "Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0"

# variant, width, depth, resolution, dropout, MD5 of efficientnet<variant>.h5, size, ImageNet top-1 (%)
_TABLE = (
    ("b0", 1.0, 1.0, 224, 0.2, "902e53a9f72be733fc0bcb005b3ebbac", "29 MB", 77.1),
    ("b1", 1.0, 1.1, 240, 0.2, "1d254153d4ab51201f1646940f018540", "31 MB", 79.1),
    ("b2", 1.1, 1.2, 260, 0.3, "b15cce36ff4dcbd00b6dd88e7857a6ad", "36 MB", 80.1),
    ("b3", 1.2, 1.4, 300, 0.3, "ffd1fdc53d0ce67064dc6a9c7960ede0", "48 MB", 81.6),
    ("b4", 1.4, 1.8, 380, 0.4, "18c95ad55216b8f92d7e70b3a046e2fc", "75 MB", 82.9),
    ("b5", 1.6, 2.2, 456, 0.4, "ace28f2a6363774853a83a0b21b9421a", "118 MB", 83.6),
    ("b6", 1.8, 2.6, 528, 0.5, "165f6e37dce68623721b423839de8be5", "166 MB", 84.0),
    ("b7", 2.0, 3.1, 600, 0.5, "8c03f828fec3ef71311cd463b6759d99", "256 MB", 84.3),
)

VARIANTS: dict[str, Scaling] = {row[0]: Scaling(*row[:5]) for row in _TABLE}


def architecture(variant: str) -> str:
    return f"efficientnet-{variant}"


PRESETS: tuple[Preset, ...] = tuple(
    Preset(
        architecture=architecture(variant),
        name=IMAGENET,
        file_name=f"efficientnet{variant}.h5",
        url=URL.format(variant=variant),
        checksum=f"md5:{md5}",
        size=size,
        licence=LICENCE,
        licence_url=LICENCE_URL,
        metric=f"ImageNet top-1 {top1}% (paper, Table 2)",
        source="keras.applications.EfficientNet" + variant.upper(),
        check=check_keras_weights,
        description=f"EfficientNet-{variant.upper()} ImageNet-1k classifier, Keras applications file",
    )
    for variant, _, _, _, _, md5, size, top1 in _TABLE
)


def variant_scaling(variant: str) -> Scaling:
    try:
        return VARIANTS[variant.lower()]
    except KeyError:
        raise ExportError(f"unknown EfficientNet variant {variant!r}; choose one of {', '.join(VARIANTS)}") from None
