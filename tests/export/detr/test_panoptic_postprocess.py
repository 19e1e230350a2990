"""Panoptic post-processing against an independent PyTorch + PIL implementation of the official
PostProcessPanoptic, on crafted outputs (overlaps, stuff merging, tiny segments, empty) and random ones,
in a batch, and inside a traced graph and a SavedModel."""

import io
from collections import defaultdict

import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F
from PIL import Image

from export.detr.coco_categories import (
    coco_category_names,
    coco_panoptic_categories,
    coco_panoptic_is_thing,
    coco_panoptic_names,
)
from export.detr.panoptic_postprocess import panoptic_postprocess, pil_nearest_indices, segment_image

NUM_CLASSES = 250
IS_THING = coco_panoptic_is_thing(NUM_CLASSES)
NAMES = coco_panoptic_names(NUM_CLASSES)
PERSON, CAR, DOG, TREE, SKY = 1, 3, 18, 184, 187  # things <= 90 < stuff


def rgb2id(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def id2rgb(ids: np.ndarray) -> np.ndarray:
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536 % 256], axis=-1).astype(np.uint8)


def official(logits, masks, processed, target, threshold=0.85):
    """The official algorithm for one image (masks [Q, ceil(h/4), ceil(w/4)], as for a batch of one):
    torch softmax/bilinear/argmax, PIL nearest resize of the id2rgb image, areas at the target size,
    stuff merging in the first pass only, then dropping segments of <= 4 pixels until none is."""
    logits, masks = torch.from_numpy(logits), torch.from_numpy(masks)
    scores, labels = logits.softmax(-1).max(-1)
    keep = (labels != logits.shape[-1] - 1) & (scores > threshold)
    scores, labels = scores[keep], labels[keep]
    flat = F.interpolate(masks[keep][:, None], size=tuple(processed), mode="bilinear", align_corners=False)[
        :, 0
    ].flatten(1)
    h, w = processed
    stuff = defaultdict(list)
    for k, label in enumerate(labels.tolist()):
        if not IS_THING[label]:
            stuff[label].append(k)

    def ids_and_areas(flat, merge):
        if len(flat) == 0:
            ids = torch.zeros((h, w), dtype=torch.long)
        else:
            ids = flat.transpose(0, 1).softmax(-1).argmax(-1).view(h, w)
        if merge:
            for group in stuff.values():
                for k in group[1:]:
                    ids[ids == k] = group[0]
        picture = Image.fromarray(id2rgb(ids.numpy())).resize((target[1], target[0]), Image.NEAREST)
        ids = rgb2id(np.asarray(picture))
        return [int((ids == i).sum()) for i in range(len(flat))], ids, picture

    areas, ids, picture = ids_and_areas(flat, merge=True)
    while len(labels):
        small = torch.tensor([area <= 4 for area in areas], dtype=torch.bool)
        if not small.any():
            break
        scores, labels, flat = scores[~small], labels[~small], flat[~small]
        areas, ids, picture = ids_and_areas(flat, merge=False)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    segments = [
        {"id": i, "category_id": int(labels[i]), "isthing": IS_THING[int(labels[i])], "area": area}
        for i, area in enumerate(areas)
    ]
    return {"ids": ids, "segments": segments, "scores": scores.numpy(), "png": buffer.getvalue()}


def ours(logits, masks, processed, target, threshold=0.85):
    out = segment_image(
        tf.constant(logits),
        tf.constant(masks),
        tf.constant(processed, tf.int32),
        tf.constant(target, tf.int32),
        tf.constant(IS_THING),
        threshold,
    )
    n = int(out["num_segments"])
    segments = [
        {
            "id": int(out["segment_ids"][i]),
            "category_id": int(out["category_ids"][i]),
            "isthing": bool(out["isthing"][i]),
            "area": int(out["areas"][i]),
        }
        for i in range(n)
    ]
    assert (out["segment_ids"].numpy()[n:] == -1).all() and (out["category_ids"].numpy()[n:] == -1).all()
    assert (out["areas"].numpy()[n:] == 0).all() and not out["isthing"].numpy()[n:].any()
    return {"ids": out["ids"].numpy(), "segments": segments, "scores": out["scores"].numpy()[:n]}


def assert_same(got, expected):
    assert got["segments"] == expected["segments"]
    np.testing.assert_array_equal(got["ids"], expected["ids"])
    np.testing.assert_allclose(got["scores"], expected["scores"], atol=1e-6)


def class_logits(labels, confident=True):
    """Logits [Q, 251] that make each query predict `labels[q]` (None: no object) with p ~ 0.99 (or ~ 0.5)."""
    logits = np.zeros((len(labels), NUM_CLASSES + 1), np.float32)
    for q, label in enumerate(labels):
        logits[q, NUM_CLASSES if label is None else label] = 10.0 if confident else 5.6
    return logits


def blob(shape, top, left, bottom, right, inside=6.0, outside=-6.0):
    mask = np.full(shape, outside, np.float32)
    mask[top:bottom, left:right] = inside
    return mask


def test_overlapping_queries_split_pixels_by_the_highest_probability():
    low = (6, 8)  # processed 24 x 32
    masks = np.stack([blob(low, 0, 0, 4, 5), blob(low, 2, 3, 6, 8, inside=8.0), blob(low, 0, 0, 6, 8, inside=-1.0)])
    logits = class_logits([PERSON, DOG, SKY])
    expected = official(logits, masks, (24, 32), (24, 32))
    assert_same(ours(logits, masks, (24, 32), (24, 32)), expected)
    assert [s["category_id"] for s in expected["segments"]] == [PERSON, DOG, SKY]
    assert sum(s["area"] for s in expected["segments"]) == 24 * 32
    # The overlap of the person and the dog goes to the dog (logit 8 > 6).
    assert expected["ids"][12, 16] == 1 and expected["ids"][2, 2] == 0


def test_identical_masks_go_to_the_first_query():
    low = (6, 8)
    person = blob(low, 0, 0, 4, 5)
    masks = np.stack([blob(low, 0, 0, 6, 8, inside=1.0), person, person.copy()])
    logits = class_logits([TREE, PERSON, CAR])
    expected = official(logits, masks, (24, 32), (24, 32))
    assert_same(ours(logits, masks, (24, 32), (24, 32)), expected)
    assert [s["category_id"] for s in expected["segments"]] == [TREE, PERSON]


def test_stuff_of_one_class_merges_then_the_rest_is_reassigned_as_the_official_code_does():
    """Two sky queries: the second's pixels first go to the first; the second (now empty) is dropped and
    in the next pass, without merging, its old pixels go to whichever remaining query scores higher."""
    low = (6, 8)
    sky1 = blob(low, 0, 0, 3, 8, inside=5.0)
    car = blob(low, 3, 0, 6, 4, inside=5.0, outside=-1.0)
    sky2 = blob(low, 3, 4, 6, 8, inside=7.0)
    sky1[3:, 4:] = 0.5  # sky1 beats the car only on part of sky2's region
    car[3:, 4:6] = 2.0
    logits = class_logits([SKY, CAR, SKY])
    expected = official(logits, np.stack([sky1, car, sky2]), (24, 32), (24, 32))
    assert_same(ours(logits, np.stack([sky1, car, sky2]), (24, 32), (24, 32)), expected)
    assert [s["category_id"] for s in expected["segments"]] == [SKY, CAR]
    ids = expected["ids"]
    assert (ids[14:, 18:22] == 1).all() and (ids[14:, 28:] == 0).all()  # sky2's region is split


def test_tiny_segments_are_dropped_at_the_original_size_and_their_pixels_reassigned():
    """The person wins a 3x3 corner at the processed size 24x32: kept at 24x32, but at an original size
    of 12x16 it covers <= 4 pixels, is dropped, and the tree takes the whole image."""
    low = (6, 8)
    tiny = np.full(low, -6.0, np.float32)
    tiny[5, 7] = 3.0
    big = np.zeros(low, np.float32)
    logits = class_logits([PERSON, TREE])
    masks = np.stack([tiny, big])
    for target, areas in (((24, 32), [9, 24 * 32 - 9]), ((12, 16), [12 * 16])):
        expected = official(logits, masks, (24, 32), target)
        assert_same(ours(logits, masks, (24, 32), target), expected)
        assert [s["area"] for s in expected["segments"]] == areas
    assert [s["category_id"] for s in expected["segments"]] == [TREE]


def test_empty_result_has_no_segment_and_an_all_zero_map():
    low = (5, 7)
    masks = np.random.default_rng(0).normal(size=(4, *low)).astype(np.float32)
    logits = np.concatenate([class_logits([None, None]), class_logits([PERSON, TREE], confident=False)])
    expected = official(logits, masks, (17, 27), (34, 54))
    got = ours(logits, masks, (17, 27), (34, 54))
    assert_same(got, expected)
    assert got["segments"] == [] and got["ids"].shape == (34, 54) and not got["ids"].any()


@pytest.mark.parametrize(
    "seed, processed, target",
    [
        (0, (37, 53), (60, 80)),
        (1, (40, 40), (30, 25)),
        (2, (64, 48), (64, 48)),
        (3, (33, 61), (99, 183)),
        (4, (29, 31), (17, 19)),
    ],
)
def test_random_outputs_equal_the_official_algorithm(seed, processed, target):
    rng = np.random.default_rng(seed)
    queries = 12
    labels = rng.choice([PERSON, CAR, DOG, TREE, SKY, None], size=queries).tolist()
    logits = class_logits(labels)
    logits[rng.random(queries) < 0.2] *= 0.55  # some fall under the threshold
    low = ((processed[0] + 3) // 4, (processed[1] + 3) // 4)
    masks = (rng.normal(size=(queries, *low)) * 4).astype(np.float32)
    expected = official(logits, masks, processed, target)
    assert_same(ours(logits, masks, processed, target), expected)
    assert expected["segments"], "the case should keep some segments"


def test_pil_nearest_indices_equal_pil():
    rng = np.random.default_rng(0)
    for n_in, n_out in [(3, 7), (2, 7), (800, 600), (600, 800), (1066, 1333), *rng.integers(1, 700, (60, 2))]:
        picture = Image.fromarray(np.arange(n_in, dtype=np.int32)[None], mode="I")
        expected = np.asarray(picture.resize((int(n_out), 1), Image.NEAREST))[0]
        np.testing.assert_array_equal(pil_nearest_indices(tf.constant(int(n_out)), tf.constant(int(n_in))), expected)


def _batch():
    """Two images in one padded batch: processed 40x56 and 24x32 (mask 10x14 and, padded, 6x8 of it)."""
    rng = np.random.default_rng(7)
    labels = [[PERSON, SKY, CAR, None, TREE, SKY], [DOG, TREE, None, None, PERSON, CAR]]
    logits = np.stack([class_logits(row) for row in labels])
    masks = (rng.normal(size=(2, 6, 10, 14)) * 4).astype(np.float32)
    masks[1, :, 6:, :] = 50.0  # junk in the second image's padding
    masks[1, :, :, 8:] = -50.0
    return logits, masks, np.int32([[40, 56], [24, 32]]), np.int32([[80, 112], [30, 40]])


def test_batch_outputs_are_padded_and_each_image_ignores_the_batch_padding():
    logits, masks, processed, original = _batch()
    out = panoptic_postprocess(logits, masks, processed, original, IS_THING, tf.constant(NAMES))
    assert out["segment_ids"].shape == (2, 6) and out["panoptic_png"].shape == (2,)
    for i, crop in enumerate([(10, 14), (6, 8)]):
        expected = official(logits[i], masks[i][:, : crop[0], : crop[1]], tuple(processed[i]), tuple(original[i]))
        n = int(out["num_segments"][i])
        assert n == len(expected["segments"]) > 0
        decoded = rgb2id(np.asarray(Image.open(io.BytesIO(out["panoptic_png"][i].numpy()))))
        np.testing.assert_array_equal(decoded, expected["ids"])
        np.testing.assert_array_equal(decoded, rgb2id(np.asarray(Image.open(io.BytesIO(expected["png"])))))
        assert out["segment_ids"][i, :n].numpy().tolist() == list(range(n))
        assert out["category_ids"][i, :n].numpy().tolist() == [s["category_id"] for s in expected["segments"]]
        assert out["areas"][i, :n].numpy().tolist() == [s["area"] for s in expected["segments"]]
        assert out["isthing"][i, :n].numpy().tolist() == [s["isthing"] for s in expected["segments"]]
        assert out["category_names"][i, :n].numpy().tolist() == [
            NAMES[s["category_id"]].encode() for s in expected["segments"]
        ]
        np.testing.assert_allclose(out["scores"][i, :n], expected["scores"], atol=1e-6)
        assert out["category_names"][i, n:].numpy().tolist() == [b""] * (6 - n)
        assert (out["scores"][i, n:].numpy() == 0).all()


def test_runs_in_a_traced_graph_and_a_saved_model(tmp_path):
    logits, masks, processed, original = _batch()
    eager = panoptic_postprocess(logits, masks, processed, original, IS_THING, tf.constant(NAMES))

    class Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.is_thing = tf.constant(IS_THING)
            self.names = tf.constant(NAMES)

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, None, None], tf.float32),
                tf.TensorSpec([None, None, None, None], tf.float32),
                tf.TensorSpec([None, 2], tf.int32),
                tf.TensorSpec([None, 2], tf.int32),
                tf.TensorSpec([], tf.float32),
            ]
        )
        def segment(self, logits, masks, processed, original, threshold):
            return panoptic_postprocess(logits, masks, processed, original, self.is_thing, self.names, threshold)

    tf.saved_model.save(Module(), str(tmp_path / "postprocess"))
    loaded = tf.saved_model.load(str(tmp_path / "postprocess"))
    served = loaded.segment(
        tf.constant(logits), tf.constant(masks), tf.constant(processed), tf.constant(original), tf.constant(0.85)
    )
    for key, value in eager.items():
        np.testing.assert_array_equal(served[key].numpy(), value.numpy(), err_msg=key)
    nothing = loaded.segment(
        tf.constant(logits), tf.constant(masks), tf.constant(processed), tf.constant(original), tf.constant(1.0)
    )
    assert nothing["num_segments"].numpy().tolist() == [0, 0]
    assert not np.asarray(Image.open(io.BytesIO(nothing["panoptic_png"][1].numpy()))).any()


def test_category_tables():
    categories = coco_panoptic_categories()
    assert len(categories) == 133 and sum(c["isthing"] for c in categories) == 80
    assert all(bool(c["isthing"]) == IS_THING[c["id"]] for c in categories)  # the official id <= 90 rule
    assert len(NAMES) == NUM_CLASSES and sum(name != "N/A" for name in NAMES) == 133
    detection = coco_category_names()
    assert all(NAMES[i] == detection[i] for i in range(91))  # things share the detector's names
    assert NAMES[TREE] == "tree-merged" and NAMES[SKY] == "sky-other-merged" and NAMES[201] == "N/A"
