"""EfficientNet (Tan & Le, 2019): compound-scaled MBConv classifiers, layer-compatible with Keras applications.

``model`` builds the network, ``scaling`` holds B0–B7 and custom φ, ``weights`` loads files,
``serving`` defines the signatures and ``export`` ties them to the export pipeline.
"""
