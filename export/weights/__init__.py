"""Weights by name, for every model: the presets record, fetching and the shared file checks.

Each model keeps its own presets table and the converter for its official format in
``export/<model>/weights/`` (``presets.py``, ``convert.py``). What every model shares is here:

- ``presets``: what a published file is (``Preset``: official URL, hash, size, licence, the paper's
  metric) and what ``--weights`` means (``NONE``: random; a preset name; a file path);
- ``fetch``: download once, trust forever after: streamed with progress, resumed (HTTP Range),
  hash and structure checked, renamed into the cache, reused; mirror, offline switch, retries;
- ``google_drive``: the confirmation page and quota errors of files hosted on Google Drive;
- ``formats``: the quick checks that a file is of the format it claims (before TensorFlow loads);
- ``keras_file``: loading a Keras weights file into a built model, with one-line errors.
"""
