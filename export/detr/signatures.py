"""DETR serving signatures: encoded images -> detections, and raw normalised pixels -> model outputs.

- `serving_default`: images string [N] -> detections with the export's threshold and limit.
- `detect_with_threshold`: images, score_threshold float32 and max_detections int32, each a scalar for
  every image or one value per image ([N]: the form TF Serving's batcher can merge; export/per_example.py).
  A scalar max_detections gives K = max_detections columns, as before; per-image limits give K =
  num_queries columns, of which image i fills at most max_detections[i] (so a response's shape never
  depends on which other requests shared its batch).
- `raw`: pixels float32 [N, H, W, 3] (normalised) -> pred_logits, pred_boxes.
"""

import tensorflow as tf

from export.detr.networks.detr import DETR
from export.detr.postprocess import postprocess
from export.detr.preprocessing import preprocess_encoded
from export.pipeline.endpoint import Endpoint
from export.signatures.image_options import DEFAULT_MAX_IMAGE_PIXELS
from export.signatures.per_example import per_example, per_example_spec


def build_endpoints(
    model: DETR,
    label_names: list[str],
    min_size: int,
    max_size: int,
    score_threshold: float,
    max_detections: int,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> list[Endpoint]:
    """`serving_default` (export-time threshold), `detect_with_threshold` (per request or image), `raw`.

    Images declaring more than `max_image_pixels` in their header are refused before decoding.
    """
    names = tf.constant(label_names)
    num_queries = model.detr_config.num_queries

    # One traced model graph shared by every signature (smaller SavedModel, faster export and load).
    @tf.function(
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32), tf.TensorSpec([None, None, None], tf.bool)]
    )
    def forward(pixels, mask):
        outputs = model(pixels, mask, training=False)
        return {"pred_logits": outputs["pred_logits"], "pred_boxes": outputs["pred_boxes"]}

    def detect(images, threshold, columns, row_limits=None):
        pixels, mask, sizes = preprocess_encoded(images, min_size, max_size, max_image_pixels)
        outputs = forward(pixels, mask)
        return postprocess(outputs["pred_logits"], outputs["pred_boxes"], sizes, threshold, columns, names, row_limits)

    def serving_default(images):
        return detect(images, score_threshold, max_detections)

    def detect_with_threshold(images, score_threshold, max_detections):
        rows = tf.shape(images)[0]
        thresholds = per_example(score_threshold, rows, "score_threshold")
        limits = per_example(max_detections, rows, "max_detections")
        checks = [
            tf.debugging.assert_greater_equal(thresholds, 0.0, message="score_threshold must be in [0, 1]"),
            tf.debugging.assert_less_equal(thresholds, 1.0, message="score_threshold must be in [0, 1]"),
            tf.debugging.assert_greater_equal(limits, 1, message=f"max_detections must be in [1, {num_queries}]"),
            tf.debugging.assert_less_equal(
                limits, num_queries, message=f"max_detections must be in [1, {num_queries}]"
            ),
        ]
        with tf.control_dependencies(checks):
            columns = tf.cond(
                tf.equal(tf.rank(max_detections), 0),
                lambda: tf.reshape(max_detections, []),
                lambda: tf.constant(num_queries),
            )
            return detect(images, tf.identity(thresholds), columns, tf.identity(limits))

    def raw(pixels):
        return forward(pixels, tf.zeros(tf.shape(pixels)[:3], tf.bool))

    images_spec = tf.TensorSpec([None], tf.string, name="images")
    return [
        Endpoint("serving_default", serving_default, [images_spec]),
        Endpoint(
            "detect_with_threshold",
            detect_with_threshold,
            [
                images_spec,
                per_example_spec(tf.float32, "score_threshold"),
                per_example_spec(tf.int32, "max_detections"),
            ],
        ),
        Endpoint("raw", raw, [tf.TensorSpec([None, None, None, 3], tf.float32, name="pixels")]),
    ]
