"""The panoptic serving signatures: serving_default, which runs the mask head on the kept queries only, gives
what the official path gives (every query's mask, then PostProcessPanoptic); raw returns every mask."""

import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from export.detr.coco_categories import coco_panoptic_is_thing, coco_panoptic_names
from export.detr.networks.segmentation import build_detr_segm
from export.detr.panoptic_postprocess import MASK_STRIDE, kept_queries, panoptic_postprocess, pil_nearest_indices
from export.detr.panoptic_signatures import PNG_OUTPUT, PNG_REST_OUTPUT, build_panoptic_endpoints
from export.detr.preprocessing import preprocess_encoded, resized_sizes
from export.pipeline.tolerance import assert_same_computation
from protocol.panoptic import rgb_to_id
from tests.fixtures.detr import tiny_panoptic_config
from tests.fixtures.pictures import sample_picture

MIN_SIZE, MAX_SIZE = 96, 128
TINY = tiny_panoptic_config()
NAMES, IS_THING = coco_panoptic_names(TINY.num_classes), coco_panoptic_is_thing(TINY.num_classes)


@pytest.fixture(scope="module")
def model():
    """A tiny DETRsegm whose queries differ and are confident about different classes (several instances of
    a thing, stuff), as a trained model's are: random weights, with the query embeddings, the attention
    map's query projection and the class weights scaled up."""
    keras.utils.set_random_seed(2)
    model = build_detr_segm(TINY)
    for weight, scale in (
        (model.detr.query_embed, 30.0),
        (model.bbox_attention.q_linear.kernel, 30.0),
        (model.detr.class_embed.kernel, 40.0),
    ):
        weight.assign(weight * scale)
    return model


@pytest.fixture(scope="module")
def images():
    """Two photos of different sizes and aspects: one padded batch."""
    flower = Image.open(io.BytesIO(sample_picture("flower.jpg"))).resize((150, 200))
    buffer = io.BytesIO()
    flower.save(buffer, format="PNG")
    return tf.constant([sample_picture("china.jpg"), buffer.getvalue()])


def _serving(model, threshold):
    endpoints = {e.name: e for e in build_panoptic_endpoints(model, NAMES, IS_THING, MIN_SIZE, MAX_SIZE, threshold)}
    return {name: tf.function(e.fn, input_signature=list(e.input_signature)) for name, e in endpoints.items()}


@tf.function
def _official(model, images, threshold):
    """The official path: the model's every-query `pred_masks`, then the post-processing (traced, as the
    serving graph is)."""
    pixels, mask, sizes = preprocess_encoded(images, MIN_SIZE, MAX_SIZE)
    outputs = model(pixels, mask, training=False)
    processed = resized_sizes(sizes, MIN_SIZE, MAX_SIZE)
    segments = panoptic_postprocess(
        outputs["pred_logits"], outputs["pred_masks"], processed, sizes, IS_THING, tf.constant(NAMES), threshold
    )
    return segments, outputs, processed, sizes


def _ids(png: bytes) -> np.ndarray:
    return rgb_to_id(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")))


def _winning_margin(outputs, processed, sizes, image: int, threshold: float) -> np.ndarray:
    """At the original size: how far each pixel's best kept query leads the second (softmax probabilities
    of the upsampled masks, as the post-processing compares them)."""
    kept, _, _ = kept_queries(outputs["pred_logits"][image], threshold)
    height, width = (int(v) for v in processed[image])
    masks = tf.gather(outputs["pred_masks"][image], kept)[:, : -(-height // MASK_STRIDE), : -(-width // MASK_STRIDE)]
    masks = tf.image.resize(masks[..., None], [height, width], method="bilinear")[..., 0]
    best = np.sort(tf.nn.softmax(masks, axis=0).numpy(), axis=0)
    margin = best[-1] - best[-2] if len(best) > 1 else np.ones_like(best[0])
    rows = pil_nearest_indices(sizes[image, 0], height).numpy()
    return margin[rows][:, pil_nearest_indices(sizes[image, 1], width).numpy()]


def test_the_kept_queries_masks_give_the_official_segments(model, images):
    _, outputs, _, _ = _official(model, images, tf.constant(0.0))
    scores = tf.reduce_max(tf.nn.softmax(outputs["pred_logits"], -1), -1).numpy()
    # Thresholds keeping all, some (a different number per image), and none of the queries.
    thresholds = [0.0, float(np.median(scores[0])), float(np.sort(scores[1])[-3]), 1.0]
    kept_counts = set()
    for threshold in thresholds:
        got = _serving(model, threshold)["serving_default"](images)
        want, outputs, processed, sizes = _official(model, images, tf.constant(threshold))
        for key in ("num_segments", "segment_ids", "category_ids", "category_names", "isthing", "scores"):
            np.testing.assert_array_equal(got[key].numpy(), want[key].numpy(), err_msg=f"{key} at {threshold}")
        for i in range(2):
            served, official = _ids(got[PNG_OUTPUT].numpy()[i]), _ids(want[PNG_OUTPUT].numpy()[i])
            moved = served != official
            # The head ran on other batches (one image, its kept queries), so its float sums may round
            # differently (~1e-7): only a pixel whose two best queries tie within that can change hands.
            # A random mask head makes such ties common (its masks differ by ~1e-2 between queries); a
            # trained one's masks differ by far more.
            assert moved.mean() < 0.01, f"{moved.sum()} pixels differ at threshold {threshold}"
            if moved.any():
                assert _winning_margin(outputs, processed, sizes, i, threshold)[moved].max() < 1e-6
            areas = np.abs(got["areas"].numpy()[i] - want["areas"].numpy()[i])
            assert areas.sum() <= 2 * moved.sum()
        np.testing.assert_array_equal(got[PNG_REST_OUTPUT].numpy(), got[PNG_OUTPUT].numpy())
        kept_counts.add(tuple(got["num_segments"].numpy()))
    assert len(kept_counts) >= 3  # the thresholds did exercise different kept sets
    assert (0, 0) in kept_counts


def test_segments_are_named_counted_and_drawn_at_the_original_size(model, images):
    got = _serving(model, 0.0)["serving_default"](images)
    count = got["num_segments"].numpy()
    assert (count > 1).all()
    assert any(got["isthing"].numpy()[1]) and not all(got["isthing"].numpy()[1][: count[1]])
    for i, (height, width) in enumerate([(427, 640), (200, 150)]):
        ids = _ids(got[PNG_OUTPUT].numpy()[i])
        assert ids.shape == (height, width)
        areas = got["areas"].numpy()[i]
        assert areas[: count[i]].sum() == height * width and (areas[count[i] :] == 0).all()
        np.testing.assert_array_equal(np.bincount(ids.ravel(), minlength=count[i]), areas[: count[i]])
        categories = got["category_ids"].numpy()[i]
        assert [n.decode() for n in got["category_names"].numpy()[i]] == [
            NAMES[c] if c >= 0 else "" for c in categories
        ]
        assert got["isthing"].numpy()[i].tolist() == [c >= 0 and IS_THING[c] for c in categories]
    for i in range(2):
        image_stuff = [c for c in got["category_ids"].numpy()[i] if c >= 0 and not IS_THING[c]]
        assert len(image_stuff) == len(set(image_stuff))  # one segment per stuff class, as officially merged


def test_raw_returns_every_querys_mask_as_the_model(model):
    pixels = np.random.default_rng(0).normal(size=(1, 70, 90, 3)).astype(np.float32)
    got = _serving(model, 0.85)["raw"](tf.constant(pixels))
    want = model(pixels, training=False)
    assert set(got) == {"pred_logits", "pred_boxes", "pred_masks"}
    assert got["pred_masks"].shape == (1, TINY.num_queries, 18, 23)  # ceil(70 / 4), ceil(90 / 4)
    for key in got:
        assert_same_computation(got[key].numpy(), want[key].numpy(), err_msg=key)
