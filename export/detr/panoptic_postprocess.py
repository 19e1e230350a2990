"""DETRsegm outputs -> a COCO panoptic segmentation per image, as the official PostProcessPanoptic
computes it, with TensorFlow ops only (it runs inside a serving signature's graph).

Per image:
1. Keep the queries whose most likely class is not "no object" and whose probability is above the
   threshold (0.85 in the official models).
2. Upsample their mask logits bilinearly (half-pixel centres) to the processed image size (the size
   the model saw, before padding) and give every pixel to the kept query with the highest softmax
   probability across queries.
3. Stuff classes predicted by several queries: their pixels go to the first of those queries.
4. Resize the segment-id map to the original image size (nearest, as PIL does it), measure each
   segment's area there, and drop segments of at most 4 pixels; while any segment was dropped, assign
   the pixels again among the remaining queries (without step 3, as the official code does) and
   measure again. So a merged stuff class keeps only its first query; the others' pixels go to
   whichever remaining query scores them highest.
5. Segment i (0-based, in query order) gets id i in the map; the map is encoded as the COCO panoptic
   PNG (R + 256 G + 256^2 B = id). With no segment left every pixel is 0 and there is no segment.

One deliberate difference: the official code resizes the whole padded-batch mask to the image's
size, so an image's segments depend on the other images it was batched with. Here each image's mask
is first cropped to its own extent (ceil(size / 4) at stride 4), which is exactly what the official
model produces for that image alone. For a batch of one the two are the same.
"""

from collections.abc import Callable

import tensorflow as tf

from export.detr.panoptic_png import id_to_rgb

MASK_STRIDE = 4  # pred_masks are at ResNet layer1's resolution: ceil(ceil(size / 2) / 2) = ceil(size / 4)
MIN_AREA = 4  # segments with area <= MIN_AREA pixels (at the original size) are dropped
DEFAULT_THRESHOLD = 0.85  # hubconf's panoptic post-processor
ROW_BAND = 32  # rows of the processed size whose per-pixel argmax is computed at once (bounds memory)


def pil_nearest_indices(out_size: tf.Tensor, in_size: tf.Tensor) -> tf.Tensor:
    """Source index of each output position of PIL's `Image.resize(..., NEAREST)`.

    PIL samples at x = (i + 0.5) * in / out by adding in / out to a float64 accumulator; where that
    lands exactly on an integer the accumulated rounding decides, so the same sequential sum is used.
    """
    step = tf.cast(in_size, tf.float64) / tf.cast(out_size, tf.float64)
    steps = tf.concat([[step * 0.5], tf.fill([out_size - 1], step)], axis=0)
    return tf.minimum(tf.cast(tf.math.cumsum(steps), tf.int32), in_size - 1)


def best_query(masks: tf.Tensor, alive: tf.Tensor) -> tf.Tensor:
    """Per pixel of masks [K, H, W], the index of the alive query (alive bool [K]) of highest softmax
    probability across the alive queries: int32 [H, W].

    Computed ROW_BAND rows at a time: the probabilities of all queries at full size would be a few
    copies of the masks (over 1 GB for 100 queries at 800x1066); a band's are a few MB. Each pixel's
    softmax reads that pixel's column only, so the result is the same.
    """
    height = tf.shape(masks)[1]
    bands = tf.TensorArray(
        tf.int32, size=0, dynamic_size=True, infer_shape=False, element_shape=tf.TensorShape([None, None])
    )

    def band(start, bands):
        logits = tf.where(alive[:, None, None], masks[:, start : start + ROW_BAND], float("-inf"))
        owner = tf.argmax(tf.nn.softmax(logits, axis=0), axis=0, output_type=tf.int32)
        return start + ROW_BAND, bands.write(start // ROW_BAND, owner)

    _, bands = tf.while_loop(lambda start, _: start < height, band, (tf.constant(0), bands), parallel_iterations=1)
    return bands.concat()


def kept_queries(logits: tf.Tensor, threshold=DEFAULT_THRESHOLD) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Step 1 for one image: logits [Q, C+1] -> (indices int32 [K] in query order, scores [K], labels [K])
    of the queries whose most likely class is not "no object" and whose probability is above threshold."""
    no_object = tf.shape(logits)[1] - 1
    prob = tf.nn.softmax(logits, axis=-1)
    scores, labels = tf.reduce_max(prob, axis=-1), tf.argmax(prob, axis=-1, output_type=tf.int32)
    kept = tf.cast(tf.where((labels != no_object) & (scores > tf.cast(threshold, prob.dtype)))[:, 0], tf.int32)
    return kept, tf.gather(scores, kept), tf.gather(labels, kept)


def segment_image(
    logits: tf.Tensor,
    masks: tf.Tensor,
    processed_size: tf.Tensor,
    original_size: tf.Tensor,
    is_thing: tf.Tensor,
    threshold=DEFAULT_THRESHOLD,
) -> dict[str, tf.Tensor]:
    """One image: logits [Q, C+1], mask logits [Q, h, w] (h, w >= ceil(processed / 4)), processed and
    original (height, width) int32 [2], is_thing bool [C] ->
    {"ids": int32 [H, W] segment-id map at the original size, and, padded to Q: "segment_ids" (-1),
    "category_ids" (-1), "isthing" (False), "areas" (0), "scores" (0.0); "num_segments" int32 []}.
    """
    kept, scores, labels = kept_queries(logits, threshold)
    return segment_kept(
        scores, labels, tf.gather(masks, kept), processed_size, original_size, is_thing, tf.shape(logits)[0]
    )


def segment_kept(
    scores: tf.Tensor,
    labels: tf.Tensor,
    masks: tf.Tensor,
    processed_size: tf.Tensor,
    original_size: tf.Tensor,
    is_thing: tf.Tensor,
    num_queries,
) -> dict[str, tf.Tensor]:
    """Steps 2-5 for one image, given the kept queries' scores [K], labels [K] and mask logits [K, h, w]
    (h, w >= ceil(processed / 4)); outputs as `segment_image`, padded to num_queries."""
    count = tf.size(scores)
    height, width = processed_size[0], processed_size[1]
    masks = masks[:, : (height + MASK_STRIDE - 1) // MASK_STRIDE, : (width + MASK_STRIDE - 1) // MASK_STRIDE]
    masks = tf.image.resize(masks[..., None], tf.stack([height, width]), method="bilinear")[..., 0]

    positions = tf.range(count)
    is_stuff = tf.logical_not(tf.gather(is_thing, labels))
    same_class = tf.equal(labels[:, None], labels[None, :])
    first_of_class = tf.reduce_min(tf.where(same_class, positions[None, :], count), axis=1)
    merged_into = tf.where(is_stuff, first_of_class, positions)
    rows = pil_nearest_indices(original_size[0], height)
    cols = pil_nearest_indices(original_size[1], width)

    def assign(alive, merge_stuff: bool):
        """Segment-id map at the original size and the area of each alive segment (by its new id)."""

        def argmax_ids():
            owner = best_query(masks, alive)
            if merge_stuff:
                owner = tf.gather(merged_into, owner)
            new_id = tf.cumsum(tf.cast(alive, tf.int32)) - 1
            return tf.gather(new_id, owner)

        ids = tf.cond(tf.reduce_any(alive), argmax_ids, lambda: tf.zeros(tf.stack([height, width]), tf.int32))
        ids = tf.gather(tf.gather(ids, rows, axis=0), cols, axis=1)
        areas = tf.math.bincount(tf.reshape(ids, [-1]), minlength=count, maxlength=count, dtype=tf.int32)
        return ids, areas

    def too_small(alive, areas):
        area_of_kept = tf.gather(areas, tf.maximum(tf.cumsum(tf.cast(alive, tf.int32)) - 1, 0))
        return alive & (area_of_kept <= MIN_AREA)

    def drop_small(alive, ids, areas, small):
        alive = alive & tf.logical_not(small)
        ids, areas = assign(alive, merge_stuff=False)
        return alive, ids, areas, too_small(alive, areas)

    alive = tf.ones([count], tf.bool)
    ids, areas = assign(alive, merge_stuff=True)
    alive, ids, areas, _ = tf.while_loop(
        lambda alive, ids, areas, small: tf.reduce_any(small), drop_small, (alive, ids, areas, too_small(alive, areas))
    )

    final = tf.where(alive)[:, 0]
    num_segments = tf.size(final)
    categories = tf.gather(labels, final)

    def pad(values, fill):
        return tf.pad(values, [[0, num_queries - num_segments]], constant_values=fill)

    return {
        "ids": ids,
        "segment_ids": pad(tf.range(num_segments), -1),
        "category_ids": pad(categories, -1),
        "isthing": pad(tf.gather(is_thing, categories), False),
        "areas": pad(areas[:num_segments], 0),
        "scores": pad(tf.gather(scores, final), 0.0),
        "num_segments": num_segments,
    }


def panoptic_postprocess(
    pred_logits: tf.Tensor,
    pred_masks: tf.Tensor,
    processed_sizes: tf.Tensor,
    original_sizes: tf.Tensor,
    is_thing: tf.Tensor,
    category_names: tf.Tensor,
    threshold=DEFAULT_THRESHOLD,
) -> dict[str, tf.Tensor]:
    """A padded batch: pred_logits [N, Q, C+1], pred_masks [N, Q, H/4, W/4], processed_sizes and
    original_sizes [N, 2] (height, width), is_thing bool [C], category_names string [C] ->
    "panoptic_png" string [N] (the segment-id map at the original size, COCO panoptic PNG), and
    [N, Q] "segment_ids", "category_ids" (-1 on padding), "category_names" ("" on padding), "isthing",
    "areas" (pixels at the original size), "scores", and "num_segments" [N].

    Images are processed one after the other (bounded memory: one image's [K, h, w] upsampled masks
    at a time).
    """
    return segment_batch(
        pred_logits,
        lambda image, kept: tf.gather(pred_masks[image], kept),
        processed_sizes,
        original_sizes,
        is_thing,
        category_names,
        threshold,
    )


def segment_batch(
    pred_logits: tf.Tensor,
    kept_masks: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    processed_sizes: tf.Tensor,
    original_sizes: tf.Tensor,
    is_thing: tf.Tensor,
    category_names: tf.Tensor,
    threshold=DEFAULT_THRESHOLD,
) -> dict[str, tf.Tensor]:
    """`panoptic_postprocess` with the masks computed on demand: `kept_masks(image, kept)` returns the mask
    logits [K, h, w] of image `image`'s kept queries (`kept`: int32 [K] query indices, in query order).

    A serving graph passes a function that runs the mask head on the kept queries only: the result is
    the same as with every query's mask, since each query's mask depends on that query alone.
    """
    is_thing = tf.convert_to_tensor(is_thing, tf.bool)
    num_queries = tf.shape(pred_logits)[1]
    processed_sizes, original_sizes = tf.cast(processed_sizes, tf.int32), tf.cast(original_sizes, tf.int32)

    def one(image):
        kept, scores, labels = kept_queries(pred_logits[image], threshold)
        segments = segment_kept(
            scores,
            labels,
            kept_masks(image, kept),
            processed_sizes[image],
            original_sizes[image],
            is_thing,
            num_queries,
        )
        png = tf.io.encode_png(id_to_rgb(segments.pop("ids")))
        return {**segments, "panoptic_png": png}

    padded = tf.TensorSpec([None], tf.int32)
    outputs = tf.map_fn(
        one,
        tf.range(tf.shape(pred_logits)[0]),
        fn_output_signature={
            "segment_ids": padded,
            "category_ids": padded,
            "isthing": tf.TensorSpec([None], tf.bool),
            "areas": padded,
            "scores": tf.TensorSpec([None], pred_logits.dtype),
            "num_segments": tf.TensorSpec([], tf.int32),
            "panoptic_png": tf.TensorSpec([], tf.string),
        },
        parallel_iterations=1,
    )
    categories = outputs["category_ids"]
    outputs["category_names"] = tf.where(categories >= 0, tf.gather(category_names, tf.maximum(categories, 0)), "")
    return outputs
