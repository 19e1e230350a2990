"""Export Keras models as versioned, verified TensorFlow Serving SavedModels.

The command line is ``python -m export <model> …``. From Python:

- ``run(spec, models_dir=…, name=…)`` exports a built-in model described by its ``ModelExport``
  (``export.efficientnet.exporter.EfficientNetExport``, ``…detr.exporter.DETRExport``,
  ``…stylegan.exporter.StyleGANExport``);
- ``export_model(model, models_dir, name, …)`` exports your own Keras model (what
  ``python -m export keras`` does), with extra signatures as ``Endpoint``s;
- ``write_version(exportable, models_dir=…, name=…)`` publishes any ``Exportable`` (a model, its
  ``Endpoint`` signatures, example inputs, export_info entries, assets).

TensorFlow is imported on first use of ``export_model``, ``run`` or ``write_version``, not by ``import export``.
"""

from export.errors import ExportError
from export.pipeline.endpoint import Endpoint
from export.pipeline.model_export import Exportable, ModelExport

__all__ = ["Endpoint", "ExportError", "Exportable", "ModelExport", "export_model", "run", "write_version"]


def __getattr__(name: str):
    if name in ("run", "write_version"):
        from export.pipeline import runner as pipeline

        return getattr(pipeline, name)
    if name == "export_model":
        from export.keras_model.exporter import export_model

        return export_model
    raise AttributeError(f"module 'export' has no attribute {name!r}")
