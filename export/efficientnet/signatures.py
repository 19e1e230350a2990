"""EfficientNet serving signatures: encoded images, float pixels, and TF Serving's classify API."""

from __future__ import annotations

from importlib import resources

import keras
import tensorflow as tf

from export.pipeline.endpoint import Endpoint
from export.signatures.image_options import DEFAULT_MAX_IMAGE_PIXELS
from export.signatures.images import center_crop_and_resize, decode_rgb
from protocol.methods import CLASSIFY_METHOD
from protocol.outputs import CLASS_IDS, CLASS_NAMES, CLASSES, PROBABILITIES, SCORES

CLASS_NAMES_FILE = "imagenet_classes.txt"
IMAGE_FEATURE = "image"


def class_names_path():
    """The shipped ImageNet class-name file (one name a line, in class-index order)."""
    return resources.files("export.efficientnet").joinpath(CLASS_NAMES_FILE)


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names in index order."""
    return class_names_path().read_text(encoding="utf-8").splitlines()


def build_endpoints(
    model: keras.Model, class_names: list[str], top_k: int, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> list[Endpoint]:
    """``serving_default`` (images), ``predict_pixels`` (float pixels) and ``classify`` (tf.Example).

    Images declaring more than ``max_image_pixels`` in their header are refused before decoding.
    """
    size = model.input_shape[1]
    names = tf.constant(class_names)

    def top(probabilities: tf.Tensor) -> dict[str, tf.Tensor]:
        scores, ids = tf.math.top_k(probabilities, k=top_k)
        return {CLASS_IDS: ids, CLASS_NAMES: tf.gather(names, ids), SCORES: scores}

    def preprocess(images: tf.Tensor) -> tf.Tensor:
        return tf.map_fn(
            lambda image: center_crop_and_resize(decode_rgb(image, max_image_pixels), size),
            images,
            fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
        )

    def serving_default(images):
        return top(model(preprocess(images), training=False))

    def predict_pixels(pixels):
        probabilities = model(pixels, training=False)
        return {PROBABILITIES: probabilities, **top(probabilities)}

    def classify(inputs):
        features = tf.io.parse_example(inputs, {IMAGE_FEATURE: tf.io.FixedLenFeature([], tf.string)})
        result = top(model(preprocess(features[IMAGE_FEATURE]), training=False))
        return {CLASSES: result[CLASS_NAMES], SCORES: result[SCORES]}

    return [
        Endpoint("serving_default", serving_default, [tf.TensorSpec([None], tf.string, name="images")]),
        Endpoint("predict_pixels", predict_pixels, [tf.TensorSpec([None, size, size, 3], tf.float32, name="pixels")]),
        Endpoint("classify", classify, [tf.TensorSpec([None], tf.string, name="inputs")], method_name=CLASSIFY_METHOD),
    ]
