"""Your own Keras model through the export pipeline: ``python -m export keras PATH`` and ``export.export_model``.

``weights/convert.py`` reads a ``.keras`` file, a legacy ``.h5`` file or builds the model from
``module:function``; ``signatures.py`` turns the model's named inputs and outputs into serving
signatures (plus top-k, ``classify`` and a bytes-in image signature on request); ``exporter.py`` is
the command's ``ModelExport`` and the Python API.
"""
