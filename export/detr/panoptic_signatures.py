"""DETR panoptic serving signatures: encoded images -> COCO panoptic PNG + segments, and raw normalised
pixels -> the model's outputs (every query's mask), as the official DETRsegm returns them."""

import tensorflow as tf

from export.detr.networks.segmentation import DETRsegm, MaskContext
from export.detr.panoptic_postprocess import segment_batch
from export.detr.preprocessing import preprocess_encoded, resized_sizes
from export.pipeline.endpoint import Endpoint
from export.signatures.image_options import DEFAULT_MAX_IMAGE_PIXELS
from protocol.outputs import PANOPTIC_PNG, PANOPTIC_PNG_BYTES, PRED_MASKS, RAW_DETR_OUTPUTS

OUTPUTS = RAW_DETR_OUTPUTS
PNG_OUTPUT = PANOPTIC_PNG
PNG_REST_OUTPUT = PANOPTIC_PNG_BYTES  # the same PNG, written as {"b64": ...} by TF Serving's REST API
MASK_HEAD_CHUNK = 10  # kept queries per run of the mask head: bounds its memory, not its result


def _masks_in_chunks(model: DETRsegm, context: MaskContext, kept: tf.Tensor) -> tf.Tensor:
    """Mask logits [K, H/4, W/4] of one image's `kept` queries (int32 [K]), the head run on MASK_HEAD_CHUNK
    queries at a time: its activations (tens of MB a query at 800x1066) are held for one chunk only."""
    queries = tf.gather(context.queries[0], kept)
    count = tf.shape(queries)[0]
    mask_size = tf.shape(context.fpns[-1])[1:3]  # layer1's: H/4, W/4
    chunks = tf.TensorArray(
        tf.float32, size=0, dynamic_size=True, infer_shape=False, element_shape=tf.TensorShape([None, None, None])
    )

    def run(start, chunks):
        part = queries[start : start + MASK_HEAD_CHUNK][None]
        return start + MASK_HEAD_CHUNK, chunks.write(
            start // MASK_HEAD_CHUNK, model.predict_masks(context, part, training=False)[0]
        )

    _, chunks = tf.while_loop(lambda start, _: start < count, run, (tf.constant(0), chunks), parallel_iterations=1)
    # No query kept: the head does not run at all (and an empty TensorArray cannot be concatenated).
    return tf.cond(count > 0, chunks.concat, lambda: tf.zeros(tf.concat([[0], mask_size], axis=0)))


def build_panoptic_endpoints(
    model: DETRsegm,
    category_names: list[str],
    is_thing: list[bool],
    min_size: int,
    max_size: int,
    score_threshold: float,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> list[Endpoint]:
    """`serving_default` (images -> panoptic_png, segment_ids, category_ids, category_names, isthing, areas,
    scores, num_segments, and panoptic_png_bytes for REST) and `raw` (pixels -> pred_logits, pred_boxes,
    pred_masks). Images declaring more than `max_image_pixels` in their header are refused before decoding.

    serving_default runs the mask head only on each image's queries that pass `score_threshold` (the
    only ones the post-processing reads), one image at a time: the cost of the head, most of the
    model's at the default size, follows the number of segments instead of the 100 queries.
    """
    names = tf.constant(category_names)
    things = tf.constant(is_thing, tf.bool)

    # The backbone, transformer and heads are traced once and shared by both signatures.
    @tf.function(
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32), tf.TensorSpec([None, None, None], tf.bool)]
    )
    def detect(pixels, mask):
        outputs, context = model.detect_with_context(pixels, mask, training=False)
        return {key: outputs[key] for key in OUTPUTS}, context

    def serving_default(images):
        pixels, mask, original_sizes = preprocess_encoded(images, min_size, max_size, max_image_pixels)
        outputs, context = detect(pixels, mask)
        context = MaskContext(*context)

        def kept_masks(image, kept):
            return _masks_in_chunks(model, context.image(image), kept)

        segments = segment_batch(
            outputs["pred_logits"],
            kept_masks,
            resized_sizes(original_sizes, min_size, max_size),
            original_sizes,
            things,
            names,
            score_threshold,
        )
        return {**segments, PNG_REST_OUTPUT: tf.identity(segments[PNG_OUTPUT])}

    def raw(pixels):
        outputs, context = detect(pixels, tf.zeros(tf.shape(pixels)[:3], tf.bool))
        context = MaskContext(*context)
        return {**outputs, PRED_MASKS: model.predict_masks(context, context.queries, training=False)}

    return [
        Endpoint("serving_default", serving_default, [tf.TensorSpec([None], tf.string, name="images")]),
        Endpoint("raw", raw, [tf.TensorSpec([None, None, None, 3], tf.float32, name="pixels")]),
    ]
