"""EfficientNet's weights: the presets table (``presets.py``: B0–B7, their scaling and the published
ImageNet files) and the converter for the published Keras format (``convert.py``)."""
