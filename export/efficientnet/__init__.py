"""EfficientNet (Tan & Le, 2019): compound-scaled MBConv classifiers, layer-compatible with Keras applications.

``models/`` holds the network (``efficientnet.py``) and its compound scaling (``scaling.py``);
``weights/`` holds the presets table (B0-B7 and their ImageNet files) and the converter for the
published Keras files, ``signatures.py`` defines the serving signatures and
``exporter.py`` is the model's part of ``python -m export``.
"""
