"""Serving signatures of a user's Keras model: its named inputs and outputs, and optional extras.

- ``serving_default``: the model's inputs by name (dtypes and shapes from the model, batch free) →
  its outputs by name (dict keys, or the output layers' names). With labels, also ``class_ids``,
  ``class_names`` and ``scores``: the top k of the classifier output.
- ``classify`` (with labels; method ``tensorflow/serving/classify``): serialized ``tf.Example`` with
  one feature per model input (the image input as encoded bytes) → ``classes``, ``scores``.
- ``predict_images`` (with an image input): the image input as encoded JPEG/PNG/GIF/BMP/WebP bytes,
  refused over the pixel limit before decoding, then decoded, centre-cropped and resized (as the
  EfficientNet signature) and normalised in the graph; the other inputs as in ``serving_default``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from export.errors import ExportError
from export.pipeline.endpoint import Endpoint
from export.signatures.image_options import DEFAULT_MAX_IMAGE_PIXELS
from export.signatures.images import center_crop_and_resize, decode_rgb, example_jpeg, normalize
from protocol.methods import CLASSIFY_METHOD, DEFAULT_SIGNATURE
from protocol.outputs import CLASS_IDS, CLASS_NAMES, CLASSES, DEFAULT_TOP_K, SCORES, TOP_K_OUTPUTS

IMAGES_SIGNATURE = "predict_images"


@dataclass(frozen=True)
class ImageInput:
    """The model input that ``predict_images`` takes as encoded bytes, and how pixels are made for it."""

    name: str
    height: int
    width: int
    channels: int
    normalize: str = "none"
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS


def _input_name(tensor: Any, index: int) -> str:
    history = getattr(tensor, "_keras_history", None)
    operation = getattr(history, "operation", None)
    return getattr(operation, "name", None) or getattr(tensor, "name", None) or f"input_{index}"


def input_specs(model: Any, examples: Mapping[str, np.ndarray] | None = None) -> list[tf.TensorSpec]:
    """The model's inputs as named specs with a free batch dimension.

    Functional and Sequential models name their inputs after their Input layers. A subclassed
    model has no symbolic inputs: its one input is named after ``call``'s first parameter and
    shaped by the shape it was built with, or, given examples, by them (names, dtypes, shapes).
    """
    try:
        symbolic = list(model.inputs)
    except (AttributeError, ValueError):
        symbolic = []
    if symbolic:
        specs = [
            tf.TensorSpec([None, *t.shape[1:]], tf.as_dtype(t.dtype), name=_input_name(t, i))
            for i, t in enumerate(symbolic)
        ]
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ExportError(f"the model's inputs must have distinct names, got {names}")
        return specs
    if examples:
        return [tf.TensorSpec([None, *np.shape(v)[1:]], _example_dtype(v), name=k) for k, v in examples.items()]
    shape = (model.get_build_config() or {}).get("input_shape")
    if not shape or not all(isinstance(d, (int, type(None))) for d in shape):
        raise ExportError(
            "the model's input names and shapes are unknown (a subclassed model with several "
            "or nested inputs): give examples of them (--examples FILE.npz)"
        )
    parameters = [
        p
        for p in inspect.signature(model.call).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    name = parameters[0].name if parameters else "inputs"
    return [tf.TensorSpec([None, *shape[1:]], tf.float32, name=name)]


def _example_dtype(value: np.ndarray) -> tf.DType:
    array = np.asarray(value)
    return tf.string if array.dtype.kind in "OSU" else tf.as_dtype(array.dtype)


def _output_names(model: Any, count: int) -> list[str]:
    import keras

    if isinstance(model, keras.Sequential) and model.layers:
        names = [model.layers[-1].name]
    else:
        try:
            names = list(model.output_names)
        except (AttributeError, ValueError):
            names = []
    if len(names) == count and len(set(names)) == count:
        return names
    return [f"output_{i}" for i in range(count)]


def call_model(model: Any, specs: Sequence[tf.TensorSpec], tensors: Sequence[tf.Tensor]) -> dict[str, tf.Tensor]:
    """Run the model on tensors in spec order; its outputs by name."""
    if len(specs) == 1:
        result = model(tensors[0], training=False)
    else:
        result = model({spec.name: t for spec, t in zip(specs, tensors, strict=True)}, training=False)
    if isinstance(result, Mapping):
        return {str(k): v for k, v in result.items()}
    outputs = list(result) if isinstance(result, (list, tuple)) else [result]
    return dict(zip(_output_names(model, len(outputs)), outputs, strict=True))


def classifier_output(outputs: Mapping[str, Any], num_labels: int) -> str:
    """The one output of shape [N, num_labels] that labels name the columns of."""
    candidates = [k for k, v in outputs.items() if len(v.shape) == 2 and v.shape[1] == num_labels]
    if len(candidates) != 1:
        shapes = {k: list(v.shape)[1:] for k, v in outputs.items()}
        raise ExportError(
            f"--labels names {num_labels} classes, so exactly one model output must have shape "
            f"[N, {num_labels}]; the outputs are {shapes}"
        )
    clashes = sorted(set(outputs) & set(TOP_K_OUTPUTS))
    if clashes:
        raise ExportError(f"model output {clashes[0]!r} has the name of a top-k output; rename the layer")
    return candidates[0]


def _top_k(scores: tf.Tensor, labels: tf.Tensor, k: int) -> dict[str, tf.Tensor]:
    values, ids = tf.math.top_k(scores, k=k)
    return {CLASS_IDS: ids, CLASS_NAMES: tf.gather(labels, ids), SCORES: values}


def _feature(spec: tf.TensorSpec, image: ImageInput | None) -> tf.io.FixedLenFeature:
    if image is not None and spec.name == image.name:
        return tf.io.FixedLenFeature([], tf.string)
    shape = spec.shape[1:]
    if not shape.is_fully_defined():
        raise ExportError(f"a classify signature needs fixed input shapes; input {spec.name!r} has shape {spec.shape}")
    dtype = spec.dtype
    wire = tf.string if dtype == tf.string else tf.float32 if dtype.is_floating else tf.int64
    return tf.io.FixedLenFeature(shape.as_list(), wire)


def _image_pixels(encoded: tf.Tensor, image: ImageInput, dtype: tf.DType) -> tf.Tensor:
    """Encoded images [N] → model pixels [N, H, W, C] of ``dtype``."""

    def one(data):
        pixels = center_crop_and_resize(decode_rgb(data, image.max_pixels, image.channels), (image.height, image.width))
        return normalize(pixels, image.normalize)

    pixels = tf.map_fn(
        one, encoded, fn_output_signature=tf.TensorSpec([image.height, image.width, image.channels], tf.float32)
    )
    return tf.saturate_cast(tf.round(pixels), dtype) if dtype.is_integer else tf.cast(pixels, dtype)


def build_endpoints(
    model: Any,
    specs: Sequence[tf.TensorSpec],
    *,
    labels: Sequence[str] | None = None,
    top_k: int = DEFAULT_TOP_K,
    classifier: str | None = None,
    image: ImageInput | None = None,
) -> list[Endpoint]:
    """``serving_default``, and ``classify`` with labels, ``predict_images`` with an image input."""
    specs = list(specs)
    label_table = tf.constant(list(labels)) if labels else None
    k = min(top_k, len(labels)) if labels else 0

    def predict(*tensors):
        outputs = call_model(model, specs, tensors)
        if label_table is not None:
            outputs.update(_top_k(outputs[classifier], label_table, k))
        return outputs

    endpoints = [Endpoint(DEFAULT_SIGNATURE, predict, specs)]
    if image is not None:
        position = [s.name for s in specs].index(image.name)
        image_spec = specs[position]

        def predict_images(*tensors):
            tensors = list(tensors)
            tensors[position] = _image_pixels(tensors[position], image, image_spec.dtype)
            return predict(*tensors)

        image_specs = [tf.TensorSpec([None], tf.string, name=s.name) if s.name == image.name else s for s in specs]
        endpoints.append(Endpoint(IMAGES_SIGNATURE, predict_images, image_specs))
    if label_table is not None:
        features = {spec.name: _feature(spec, image) for spec in specs}

        def classify(inputs):
            parsed = tf.io.parse_example(inputs, features)
            tensors = []
            for spec in specs:
                value = parsed[spec.name]
                if image is not None and spec.name == image.name:
                    value = _image_pixels(value, image, spec.dtype)
                tensors.append(tf.cast(value, spec.dtype) if spec.dtype != tf.string else value)
            result = _top_k(call_model(model, specs, tensors)[classifier], label_table, k)
            return {CLASSES: result[CLASS_NAMES], SCORES: result[SCORES]}

        endpoints.append(
            Endpoint(
                "classify", classify, [tf.TensorSpec([None], tf.string, name="inputs")], method_name=CLASSIFY_METHOD
            )
        )
    return endpoints


def _example_proto(row: Mapping[str, Any]) -> bytes:
    feature = {}
    for name, value in row.items():
        flat = np.asarray(value).reshape(-1)
        if flat.dtype.kind in "OSU" or isinstance(value, bytes):
            items = [v.encode() if isinstance(v, str) else bytes(v) for v in flat]
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=items))
        elif flat.dtype.kind == "f":
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=flat.tolist()))
        else:
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=flat.astype(np.int64).tolist()))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def example_inputs(
    endpoints: Sequence[Endpoint], model_examples: Mapping[str, np.ndarray], image: ImageInput | None
) -> dict[str, dict[str, np.ndarray]]:
    """Examples of every signature, derived from the model's example inputs (one batch)."""
    batch = len(next(iter(model_examples.values())))
    pictures = np.array(
        [example_jpeg(256, 256) if i % 2 == 0 else example_jpeg(180, 320) for i in range(batch)], dtype=object
    )
    examples = {}
    for endpoint in endpoints:
        if endpoint.name == DEFAULT_SIGNATURE:
            examples[endpoint.name] = dict(model_examples)
        elif endpoint.name == IMAGES_SIGNATURE:
            examples[endpoint.name] = {**model_examples, image.name: pictures}
        elif endpoint.name == "classify":
            rows = [
                {
                    name: (pictures[i] if image is not None and name == image.name else value[i])
                    for name, value in model_examples.items()
                }
                for i in range(batch)
            ]
            examples[endpoint.name] = {"inputs": np.array([_example_proto(r) for r in rows], dtype=object)}
    return examples
