"""``python -m export keras PATH`` and ``export.export_model(model, …)``: your own model, same guarantees.

PATH is a ``.keras`` file, a legacy ``.h5`` file or ``module:function`` returning a Keras model.
The export gets ``serving_default`` with the model's named inputs and outputs, verification against
the in-process model, warmup records from example inputs (drawn from the input specs, or
``--examples FILE.npz``) and export_info.json; on request top-k and ``classify`` (``--labels``) and a
bytes-in image signature (``--image-input``).
"""

from __future__ import annotations

import argparse
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from export.errors import ExportError
from export.pipeline.endpoint import Endpoint
from export.pipeline.model_export import Exportable, ModelExport
from export.signatures.image_options import (
    DEFAULT_MAX_IMAGE_PIXELS,
    NORMALIZATIONS,
    add_max_image_pixels_argument,
    check_max_image_pixels,
)
from export.weights.presets import NONE
from protocol.outputs import DEFAULT_TOP_K

LABELS_FILE = "labels.txt"  # the asset name of labels given as a list


def _plain_name(text: str) -> str:
    """A model name from a file stem or a function name: anything but letters, digits, ``_.-`` becomes ``_``."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", text).lstrip(".-")
    return name[:128] or "model"


def read_labels(path: str | Path) -> list[str]:
    """One label a line (UTF-8); trailing whitespace and a final empty line are ignored."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ExportError(f"cannot read labels file {path}: {error}") from None
    labels = [line.rstrip() for line in lines]
    if not labels or not all(labels):
        raise ExportError(f"labels file {path} must hold one non-empty label a line")
    return labels


def read_examples(path: str | Path) -> dict[str, Any]:
    """Example inputs from an ``.npz`` file: one array per model input, keyed by the input's name."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            examples = {key: archive[key] for key in archive.files}
    except Exception as error:  # zip, format and pickle errors all mean "not an .npz of arrays"
        raise ExportError(f"{path} is not an .npz file of arrays (numpy.savez): {str(error).splitlines()[0]}") from None
    if not examples:
        raise ExportError(f"{path} holds no arrays")
    return examples


@dataclass(frozen=True)
class KerasExport(ModelExport):
    """A Keras model from ``path`` (.keras, .h5, or module:function), exported with its own signatures."""

    command = "keras"

    path: str
    weights: str = NONE
    examples: str | None = None
    atol: float | None = None
    labels: str | None = None
    top_k: int = DEFAULT_TOP_K
    image_input: str | None = None
    image_size: tuple[int, int] | None = None
    image_normalize: str = "none"
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS

    def __post_init__(self) -> None:
        check_max_image_pixels(self.max_image_pixels)
        if self.atol is not None and not self.atol >= 0:
            raise ExportError(f"--atol must be >= 0, got {self.atol}")
        if self.top_k < 1:
            raise ExportError(f"--top-k must be >= 1, got {self.top_k}")
        if self.image_normalize not in NORMALIZATIONS:
            raise ExportError(f"--image-normalize must be one of {', '.join(NORMALIZATIONS)}")
        if self.image_input is None and (self.image_size is not None or self.image_normalize != "none"):
            raise ExportError("--image-size and --image-normalize need --image-input NAME")
        if self.image_size is not None:
            object.__setattr__(self, "image_size", tuple(self.image_size))  # argparse gives a list
            if len(self.image_size) != 2 or min(self.image_size) < 1:
                raise ExportError(f"--image-size must be two positive integers, got {list(self.image_size)}")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Your own Keras model: PATH is a .keras file, a legacy .h5 file, or module:function "
            "returning a keras.Model (the way for custom layers). The export takes the model's "
            "named inputs and returns its named outputs."
        )
        parser.add_argument("path", metavar="PATH", help="model.keras | model.h5 | package.module:function")
        parser.add_argument(
            "--examples",
            default=None,
            metavar="FILE.npz",
            help="example inputs (one array per input name) for verification and warmup "
            "(default: drawn from the input specs)",
        )
        parser.add_argument(
            "--atol",
            type=float,
            default=None,
            help="largest float difference allowed between the SavedModel and the model (default: what "
            "float32 reductions in another order can change, 2^-13 of each output's scale)",
        )
        parser.add_argument(
            "--labels",
            default=None,
            metavar="FILE",
            help="class names, one a line: adds top-k outputs to serving_default and a classify "
            "signature; stored in the export's assets",
        )
        parser.add_argument(
            "--top-k", type=int, default=DEFAULT_TOP_K, help=f"classes returned with --labels (default {DEFAULT_TOP_K})"
        )
        parser.add_argument(
            "--image-input",
            default=None,
            metavar="NAME",
            help="an image input [N, H, W, C]: adds predict_images, taking it as encoded bytes",
        )
        parser.add_argument(
            "--image-size",
            type=int,
            nargs=2,
            default=None,
            metavar=("H", "W"),
            help="resize target (default: the input's own H and W)",
        )
        parser.add_argument(
            "--image-normalize",
            default="none",
            choices=list(NORMALIZATIONS),
            help="pixels 0-255 → none (unchanged), unit [0,1], symmetric [-1,1], imagenet "
            "((x/255-mean)/std) (default none)",
        )
        add_max_image_pixels_argument(parser)

    def default_name(self) -> str:
        from export.keras_model.weights.convert import is_function_reference

        if is_function_reference(self.path):
            return _plain_name(self.path.partition(":")[2])
        return _plain_name(Path(self.path).stem)

    def input_files(self) -> dict[str, Path]:
        from export.keras_model.weights.convert import is_function_reference

        files = {}
        if not is_function_reference(self.path):
            files["model file"] = Path(self.path)
        for what, value in (
            ("weights file", None if self.weights == NONE else self.weights),
            ("examples file", self.examples),
            ("labels file", self.labels),
        ):
            if value is not None:
                files[what] = Path(value)
        return files

    def build(self) -> Exportable:
        from export.keras_model.weights.convert import load_model, source_record
        from export.weights.keras_file import load_keras_weights

        labels = read_labels(self.labels) if self.labels else None
        examples = read_examples(self.examples) if self.examples else None
        model = load_model(self.path)
        if self.weights != NONE:
            load_keras_weights(model, self.weights, f"the model of {self.path}")
        return keras_exportable(
            model,
            examples=examples,
            atol=self.atol,
            labels=labels,
            top_k=self.top_k,
            image_input=self.image_input,
            image_size=self.image_size,
            image_normalize=self.image_normalize,
            max_image_pixels=self.max_image_pixels,
            source=source_record(self.path),
            assets=[Path(self.labels)] if self.labels else (),
        )


def _image_input(specs: Sequence[Any], name: str, size: tuple[int, int] | None, mode: str, max_pixels: int):
    from export.keras_model.signatures import ImageInput

    spec = next((s for s in specs if s.name == name), None)
    if spec is None:
        raise ExportError(
            f"--image-input {name!r} is not an input of the model; its inputs are {[s.name for s in specs]}"
        )
    shape = spec.shape.as_list()
    if len(shape) != 4 or shape[3] not in (1, 3):
        raise ExportError(f"--image-input {name!r} must have shape [N, H, W, 1 or 3], it has {shape}")
    if not (spec.dtype.is_floating or spec.dtype == "uint8"):
        raise ExportError(f"--image-input {name!r} must be float or uint8, it is {spec.dtype.name}")
    if spec.dtype == "uint8" and mode != "none":
        raise ExportError(f"--image-input {name!r} takes uint8 pixels: --image-normalize must be none")
    fixed = tuple(shape[1:3])
    if size is None:
        if None in fixed:
            raise ExportError(f"--image-input {name!r} has no fixed height and width: give --image-size H W")
        size = fixed
    elif None not in fixed and tuple(size) != fixed:
        raise ExportError(
            f"--image-size {size[0]} {size[1]} does not match input {name!r} of size {fixed[0]}x{fixed[1]}"
        )
    return ImageInput(name, int(size[0]), int(size[1]), shape[3], mode, max_pixels)


def _spec_record(spec: Any) -> dict[str, Any]:
    return {"dtype": spec.dtype.name, "shape": [-1 if d is None else d for d in spec.shape.as_list()]}


def keras_exportable(
    model: Any,
    *,
    examples: Mapping[str, Any] | None = None,
    atol: float | None = None,
    labels: Sequence[str] | None = None,
    top_k: int = DEFAULT_TOP_K,
    image_input: str | None = None,
    image_size: tuple[int, int] | None = None,
    image_normalize: str = "none",
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    endpoints: Sequence[Endpoint] = (),
    info: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
    assets: Sequence[Path] = (),
) -> Exportable:
    """The signatures, examples and export_info of a built Keras model (see the module docstring)."""
    import tensorflow as tf

    from export.keras_model.signatures import (
        build_endpoints,
        call_model,
        classifier_output,
        example_inputs,
        input_specs,
    )
    from export.pipeline.examples import complete_examples

    specs = input_specs(model, examples)
    image = _image_input(specs, image_input, image_size, image_normalize, max_image_pixels) if image_input else None
    plain = build_endpoints(model, specs)
    model_examples = complete_examples(plain, {"serving_default": examples} if examples is not None else {})
    model_examples = model_examples["serving_default"]
    outputs = call_model(model, specs, [tf.constant(model_examples[s.name], s.dtype) for s in specs])
    classifier = classifier_output(outputs, len(labels)) if labels else None
    own = build_endpoints(model, specs, labels=labels, top_k=top_k, classifier=classifier, image=image)
    record: dict[str, Any] = {
        "model": "keras",
        "keras_class": type(model).__name__,
        "inputs": {s.name: _spec_record(s) for s in specs},
        "outputs": {k: {"dtype": v.dtype.name, "shape": [-1, *list(v.shape)[1:]]} for k, v in outputs.items()},
        "examples": "given" if examples is not None else "drawn from the input specs",
        "atol": atol if atol is not None else "derived from each output's scale (export.pipeline.tolerance)",
    }
    if source is not None:
        record["source"] = dict(source)
    if labels:
        record.update(
            labels={
                "count": len(labels),
                "output": classifier,
                "file": f"assets/{Path(assets[0]).name}" if assets else None,
            },
            top_k=min(top_k, len(labels)),
        )
    if image is not None:
        record["image_input"] = {
            "name": image.name,
            "size": [image.height, image.width],
            "normalize": image.normalize,
            "preprocessing": "decode, centre crop, bicubic resize",
        }
        record["max_image_pixels"] = image.max_pixels
    record.update(info or {})
    return Exportable(
        model=model,
        endpoints=[*own, *endpoints],
        examples=example_inputs(own, model_examples, image),
        info=record,
        assets=list(assets),
        atol=atol,
    )


def export_model(
    model: Any,
    models_dir: str | Path = "models",
    name: str | None = None,
    *,
    version: int | None = None,
    force: bool = False,
    examples: Mapping[str, Any] | None = None,
    atol: float | None = None,
    labels: Sequence[str] | str | Path | None = None,
    top_k: int = DEFAULT_TOP_K,
    image_input: str | None = None,
    image_size: tuple[int, int] | None = None,
    image_normalize: str = "none",
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    endpoints: Sequence[Endpoint] = (),
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Export an in-memory Keras model as ``<models_dir>/<name>/<version>``; returns that directory.

    The same export as ``python -m export keras``: ``serving_default`` with the model's named inputs
    and outputs, verified against the model (``atol``), warmup records, export_info.json. ``labels``
    (a list, or a file of one label a line) adds top-k outputs and ``classify``; ``image_input`` adds
    ``predict_images``; ``endpoints`` adds your own signatures (``Endpoint(name, fn, input_signature,
    examples=…)``). ``name`` defaults to the model's name.
    """
    from export.pipeline import write_checked
    from export.pipeline.preflight import check_target

    target = check_target(models_dir, _plain_name(model.name) if name is None else name, version, force)
    check_max_image_pixels(max_image_pixels)
    if image_normalize not in NORMALIZATIONS:
        raise ExportError(f"image_normalize must be one of {', '.join(NORMALIZATIONS)}")
    with tempfile.TemporaryDirectory(prefix="export-labels-") as scratch:
        if labels is not None and not isinstance(labels, (str, Path)):
            labels = [str(label) for label in labels]
            path = Path(scratch) / LABELS_FILE
            path.write_text("".join(f"{label}\n" for label in labels), encoding="utf-8")
        else:
            path = labels
        assets = [Path(path)] if path is not None else []
        exportable = keras_exportable(
            model,
            examples=examples,
            atol=atol,
            labels=read_labels(path) if path is not None else None,
            top_k=top_k,
            image_input=image_input,
            image_size=image_size,
            image_normalize=image_normalize,
            max_image_pixels=max_image_pixels,
            endpoints=endpoints,
            info=info,
            source={"kind": "python", "keras_class": type(model).__name__},
            assets=assets,
        )
        return write_checked(exportable, target)
