"""Export Keras models as versioned, verified TensorFlow Serving SavedModels.

The command line is ``python -m export <model> …``. From Python:

- ``run(spec, models_dir=…, name=…)`` exports a built-in model described by its ``ModelExport``
  (``export.efficientnet.exporter.EfficientNetExport``, ``…detr.exporter.DETRExport``,
  ``…stylegan.exporter.StyleGANExport``);
- ``write_version(exportable, models_dir=…, name=…)`` publishes any ``Exportable`` (a model, its
  ``Endpoint`` signatures, example inputs, export_info entries, assets).

TensorFlow is imported on first use of ``run`` or ``write_version``, not by ``import export``.
"""

from export.endpoint import Endpoint
from export.errors import ExportError
from export.model_export import Exportable, ModelExport

__all__ = ["Endpoint", "ExportError", "Exportable", "ModelExport", "run", "write_version"]


def __getattr__(name: str):
    if name in ("run", "write_version"):
        from export import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'export' has no attribute {name!r}")
