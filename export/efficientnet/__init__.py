"""EfficientNet (Tan & Le, 2019): compound-scaled MBConv classifiers, layer-compatible with Keras applications."""

from export.efficientnet.model import build_efficientnet
from export.efficientnet.scaling import Scaling, custom_scaling, variant_scaling

__all__ = ["Scaling", "build_efficientnet", "custom_scaling", "variant_scaling"]
