"""DETR serving signatures: encoded images -> detections, and raw normalised pixels -> model outputs."""
import tensorflow as tf

from export.detr.models.detr import DETR
from export.detr.postprocess import postprocess
from export.detr.preprocessing import preprocess_encoded
from export.endpoint import Endpoint


def build_endpoints(model: DETR, label_names: list[str], min_size: int, max_size: int,
                    score_threshold: float, max_detections: int) -> list[Endpoint]:
    """`serving_default` (export-time threshold), `detect_with_threshold` (per-request), `raw`."""
    names = tf.constant(label_names)
    num_queries = model.detr_config.num_queries

    # One traced model graph shared by every signature (smaller SavedModel, faster export and load).
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32),
                                  tf.TensorSpec([None, None, None], tf.bool)])
    def forward(pixels, mask):
        outputs = model(pixels, mask, training=False)
        return {"pred_logits": outputs["pred_logits"], "pred_boxes": outputs["pred_boxes"]}

    def detect(images, threshold, limit):
        pixels, mask, sizes = preprocess_encoded(images, min_size, max_size)
        outputs = forward(pixels, mask)
        return postprocess(outputs["pred_logits"], outputs["pred_boxes"], sizes, threshold, limit, names)

    def serving_default(images):
        return detect(images, score_threshold, max_detections)

    def detect_with_threshold(images, score_threshold, max_detections):
        checks = [
            tf.debugging.assert_greater_equal(score_threshold, 0.0, message="score_threshold must be in [0, 1]"),
            tf.debugging.assert_less_equal(score_threshold, 1.0, message="score_threshold must be in [0, 1]"),
            tf.debugging.assert_greater_equal(max_detections, 1,
                                              message=f"max_detections must be in [1, {num_queries}]"),
            tf.debugging.assert_less_equal(max_detections, num_queries,
                                           message=f"max_detections must be in [1, {num_queries}]"),
        ]
        with tf.control_dependencies(checks):
            return detect(images, tf.identity(score_threshold), tf.identity(max_detections))

    def raw(pixels):
        return forward(pixels, tf.zeros(tf.shape(pixels)[:3], tf.bool))

    images_spec = tf.TensorSpec([None], tf.string, name="images")
    return [
        Endpoint("serving_default", serving_default, [images_spec]),
        Endpoint("detect_with_threshold", detect_with_threshold,
                 [images_spec, tf.TensorSpec([], tf.float32, name="score_threshold"),
                  tf.TensorSpec([], tf.int32, name="max_detections")]),
        Endpoint("raw", raw, [tf.TensorSpec([None, None, None, 3], tf.float32, name="pixels")]),
    ]
