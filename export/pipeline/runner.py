"""The stages in order: preflight → build → write → verify → warmup → publish.

``run(spec)`` is what ``python -m export <model>`` does for every model: check the name, version,
weights and input files (``preflight``, once, before TensorFlow), fetch published weights
(``ModelExport.fetch``), build the ``Exportable``, then write it. Writing it (``write_version``, or
``write_checked`` for a target already checked) traces and writes the SavedModel in a staging
directory (``write``), reloads it and compares every signature (``verify``), adds the warmup
records (``warmup``) and export_info.json, and renames the version into place (``publish``), or, for an
``s3://``/``gs://`` models dir, uploads it with the completion marker last (``upload``).
"""

from __future__ import annotations

import datetime
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf

from export.pipeline import inspection, publish
from export.pipeline.endpoint import Endpoint
from export.pipeline.examples import complete_examples, first_items
from export.pipeline.model_export import Exportable, ModelExport
from export.pipeline.preflight import Target, check_target, preflight
from export.pipeline.verify import verify
from export.pipeline.warmup import write_warmup_requests
from export.pipeline.write import parameter_counts, set_method_names, validate_endpoints, write_saved_model
from export.progress import step
from protocol.layout import ASSETS_EXTRA, WARMUP_FILE


def run(
    spec: ModelExport,
    *,
    models_dir: str | Path = "models",
    name: str | None = None,
    version: int | None = None,
    force: bool = False,
) -> Path | str:
    """Check, build and publish one version of ``spec``; returns ``<models_dir>/<name>/<version>`` (a path, or
    the version's URL when ``models_dir`` is ``s3://…`` or ``gs://…``)."""
    name = spec.default_name() if name is None else name
    target = preflight(spec, models_dir, name, version, force)  # fails in a second, before the slow build
    spec.fetch()
    step(f"building {spec.describe()}")
    return write_checked(spec.build(), target)


def write_version(
    exportable: Exportable, *, models_dir: str | Path, name: str, version: int | None = None, force: bool = False
) -> Path | str:
    """Write, verify and atomically publish ``exportable``; returns ``<models_dir>/<name>/<version>``."""
    return write_checked(exportable, check_target(models_dir, name, version, force))


def write_checked(exportable: Exportable, target: Target) -> Path | str:
    """``write_version`` for a target ``preflight`` has already checked (the checks run once)."""
    base, name, version, force = target.base, target.name, target.version, target.force
    endpoints = list(exportable.endpoints)
    validate_endpoints(endpoints)
    examples = complete_examples(endpoints, exportable.examples)
    model = exportable.model
    trackables = list(model) if isinstance(model, (list, tuple)) else [model]
    with publish.staging_directory(base) as staging:
        saved = staging / "saved_model"
        step(f"writing the SavedModel (signatures: {', '.join(e.name for e in endpoints)})")
        expected = write_saved_model(saved, trackables, endpoints, examples)
        set_method_names(saved, endpoints)
        warmup = {
            signature: first_items(inputs, _endpoint(endpoints, signature)) for signature, inputs in examples.items()
        }
        step("verifying: reloading the SavedModel and comparing every signature")
        verify(saved, examples, expected, warmup, exportable.atol)
        for asset in exportable.assets:
            (saved / "assets").mkdir(exist_ok=True)
            shutil.copy(asset, saved / "assets" / Path(asset).name)
        extra = saved / ASSETS_EXTRA
        write_warmup_requests(saved / WARMUP_FILE, name, warmup, {e.name: e.method_name for e in endpoints})
        record = {
            **exportable.info,
            "name": name,
            "parameters": parameter_counts(trackables),
            "signatures": inspection.signature_defs(saved),
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        (extra / inspection.INFO_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        published = publish.publish(saved, staging, base, version, force)
        step(f"published {published}")
        return published


def _endpoint(endpoints: Sequence[Endpoint], name: str) -> Endpoint:
    return next(e for e in endpoints if e.name == name)
