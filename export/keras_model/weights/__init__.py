"""Your model's weights role: the converter for its format (``convert.py``: a ``.keras`` file, a legacy
``.h5`` file, or ``module:function``). Your own model has no published presets."""
