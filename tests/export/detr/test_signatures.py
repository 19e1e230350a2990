"""The exported DETR signatures: names, converter round trip, bytes in -> boxes out, clear errors."""

import io

import numpy as np
import pytest
import tensorflow as tf
import torch
from PIL import Image

from export.detr.coco_categories import coco_category_names
from export.pipeline.tolerance import assert_same_computation, float_tolerance
from tests.export.detr.conftest import padded_batch
from tests.fixtures.detr import (
    DETR_FIXTURE_MAX_DETECTIONS,
    DETR_FIXTURE_MAX_SIZE,
    DETR_FIXTURE_MIN_SIZE,
)

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


@pytest.fixture(scope="module")
def loaded(detr_export):
    return tf.saved_model.load(str(detr_export))


def _specs(signature):
    """name -> (dtype, shape as a list; None for any rank)."""
    _, kwargs = signature.structured_input_signature
    return {
        name: (spec.dtype, spec.shape.as_list() if spec.shape.rank is not None else None)
        for name, spec in kwargs.items()
    }


def test_signature_names_inputs_and_outputs(loaded):
    assert set(loaded.signatures) == {"serving_default", "detect_with_threshold", "raw"}
    assert _specs(loaded.signatures["serving_default"]) == {"images": (tf.string, [None])}
    assert _specs(loaded.signatures["detect_with_threshold"]) == {
        "images": (tf.string, [None]),
        "score_threshold": (tf.float32, None),
        "max_detections": (tf.int32, None),
    }
    assert _specs(loaded.signatures["raw"]) == {"pixels": (tf.float32, [None, None, None, 3])}
    outputs = loaded.signatures["serving_default"].structured_outputs
    assert {k: v.dtype for k, v in outputs.items()} == {
        "boxes": tf.float32,
        "scores": tf.float32,
        "labels": tf.int32,
        "label_names": tf.string,
        "num_detections": tf.int32,
    }
    raw = loaded.signatures["raw"].structured_outputs
    assert {k: v.dtype for k, v in raw.items()} == {"pred_logits": tf.float32, "pred_boxes": tf.float32}


def test_converted_export_equals_keras_and_torch_reference(loaded, r50_pair):
    """--checkpoint (torch.save({'model': ...})) -> SavedModel `raw` == in-process Keras == torch reference."""
    reference, model = r50_pair
    images, mask = padded_batch(np.random.default_rng(3), [(96, 64)], channels_last=True)
    exported = loaded.signatures["raw"](pixels=tf.constant(images))
    keras_out = model(images, mask)
    with torch.no_grad():
        torch_out = reference(torch.from_numpy(np.transpose(images, (0, 3, 1, 2))), torch.from_numpy(mask))
    assert exported["pred_logits"].shape == (1, 100, 92) and exported["pred_boxes"].shape == (1, 100, 4)
    for key in ("pred_logits", "pred_boxes"):
        assert_same_computation(exported[key], keras_out[key])
        np.testing.assert_allclose(exported[key], torch_out[key].numpy(), atol=1e-4, rtol=0)


def _expected_detections(loaded, jpeg: bytes, k: int):
    """Independent pre/post-processing in numpy around the `raw` signature."""
    rgb = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
    h, w = rgb.shape[:2]
    size = DETR_FIXTURE_MIN_SIZE
    if max(h, w) / min(h, w) * size > DETR_FIXTURE_MAX_SIZE:
        size = round(DETR_FIXTURE_MAX_SIZE * min(h, w) / max(h, w))
    new = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)
    resized = tf.image.resize(rgb.astype(np.float32), new, antialias=True).numpy()
    pixels = ((np.clip(resized, 0, 255) / 255.0 - MEAN) / STD).astype(np.float32)[None]
    raw = loaded.signatures["raw"](pixels=tf.constant(pixels))
    logits, boxes = raw["pred_logits"].numpy()[0].astype(np.float64), raw["pred_boxes"].numpy()[0]
    prob = np.exp(logits - logits.max(-1, keepdims=True))
    prob = (prob / prob.sum(-1, keepdims=True))[:, :-1]
    order = np.argsort(-prob.max(-1), kind="stable")[:k]
    cx, cy, bw, bh = boxes[order].T
    xyxy = np.stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], axis=-1)
    return prob.max(-1)[order], prob.argmax(-1)[order], xyxy


def test_bytes_in_boxes_out_on_a_real_photo(loaded, china_jpeg):
    out = loaded.signatures["serving_default"](images=tf.constant([china_jpeg]))
    k = DETR_FIXTURE_MAX_DETECTIONS
    assert out["boxes"].shape == (1, k, 4) and out["num_detections"].numpy().tolist() == [k]
    scores, labels, boxes = _expected_detections(loaded, china_jpeg, k + 5)
    assert_same_computation(out["scores"].numpy()[0], scores[:k])
    # Random weights give near-tied scores whose order may differ: match each detection to an expected
    # one of the same score (within the reordering tolerance) and compare boxes (pixels of the 640x427 photo)
    # and labels.
    for score, label, box in zip(out["scores"].numpy()[0], out["labels"].numpy()[0], out["boxes"].numpy()[0]):
        same = np.flatnonzero(np.abs(scores - score) <= float_tolerance(scores))
        errors = [np.abs(boxes[j] - box).max() for j in same]
        best = same[int(np.argmin(errors))]
        assert errors[int(np.argmin(errors))] < 0.05 and labels[best] == label
    names = coco_category_names()
    got_labels = out["labels"].numpy()[0]
    assert [n.decode() for n in out["label_names"].numpy()[0]] == [names[i] for i in got_labels]
    assert np.all(got_labels >= 0) and np.all(got_labels <= 90)


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def test_batch_of_different_sizes_and_per_request_threshold(loaded, china_jpeg):
    """A 427x640 JPEG and a 150x200 grey PNG in one request: each image's boxes are in its own pixels."""
    crop = np.asarray(Image.open(io.BytesIO(china_jpeg)).convert("L"))[100:250, 200:400]
    images = tf.constant([china_jpeg, _png(crop)])
    default = loaded.signatures["serving_default"](images=images)
    assert default["boxes"].shape == (2, DETR_FIXTURE_MAX_DETECTIONS, 4)
    for boxes, (height, width) in zip(default["boxes"].numpy(), [(427, 640), (150, 200)]):
        centre_x, centre_y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        assert np.all((0 < centre_x) & (centre_x < width) & (0 < centre_y) & (centre_y < height))
    top3 = loaded.signatures["detect_with_threshold"](
        images=images, score_threshold=tf.constant(0.0), max_detections=tf.constant(3)
    )
    assert_same_computation(top3["scores"], default["scores"][:, :3])
    none = loaded.signatures["detect_with_threshold"](
        images=images, score_threshold=tf.constant(1.0), max_detections=tf.constant(5)
    )
    assert none["num_detections"].numpy().tolist() == [0, 0]
    assert none["labels"].numpy().tolist() == [[-1] * 5] * 2


def test_per_image_threshold_and_limit(loaded, china_jpeg):
    """One value per image (the form TF Serving's batcher merges): each image gets its own setting, in
    num_queries columns, holding what a scalar setting gives the same batch."""
    images = tf.constant([china_jpeg, china_jpeg, china_jpeg])
    per_image = loaded.signatures["detect_with_threshold"](
        images=images, score_threshold=tf.constant([0.0, 1.0, 0.0]), max_detections=tf.constant([3, 5, 7])
    )
    everything = loaded.signatures["detect_with_threshold"](
        images=images, score_threshold=tf.constant(0.0), max_detections=tf.constant(100)
    )
    assert per_image["boxes"].shape == (3, 100, 4)
    assert per_image["num_detections"].numpy().tolist() == [3, 0, 7]
    for row, kept in enumerate([3, 0, 7]):
        for name in ("boxes", "scores", "labels", "label_names"):
            np.testing.assert_array_equal(per_image[name][row, :kept], everything[name][row, :kept])
            padding = per_image[name][row, kept:].numpy()
            assert np.all(padding == (-1 if name == "labels" else b"" if name == "label_names" else 0))
    one_value = loaded.signatures["detect_with_threshold"](
        images=images, score_threshold=tf.constant([0.0]), max_detections=tf.constant([2])
    )
    assert one_value["num_detections"].numpy().tolist() == [2, 2, 2]


def test_per_image_settings_of_the_wrong_size_are_invalid_argument(loaded, china_jpeg):
    with pytest.raises(tf.errors.InvalidArgumentError, match="score_threshold must be a scalar or have one value"):
        loaded.signatures["detect_with_threshold"](
            images=tf.constant([china_jpeg] * 3), score_threshold=tf.constant([0.1, 0.2]), max_detections=tf.constant(5)
        )


def test_corrupt_image_is_invalid_argument(loaded, china_jpeg):
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["serving_default"](images=tf.constant([china_jpeg[:200]]))
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["serving_default"](images=tf.constant([b"not an image"]))


@pytest.mark.parametrize("threshold, limit", [(1.5, 5), (-0.1, 5), (0.5, 0), (0.5, 101)])
def test_impossible_per_request_settings_are_invalid_argument(loaded, china_jpeg, threshold, limit):
    with pytest.raises(tf.errors.InvalidArgumentError, match="score_threshold|max_detections"):
        loaded.signatures["detect_with_threshold"](
            images=tf.constant([china_jpeg]), score_threshold=tf.constant(threshold), max_detections=tf.constant(limit)
        )
