"""StyleGAN's weights: the presets table (``presets.py``: NVIDIA's karras2019 pickles) and the
converter for the official pickle format (``convert.py``)."""
