"""The task helpers (clients/tasks.py) against the three exported models served by `python -m serving`, on both
transports, checked against the same SavedModel signatures run in-process."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from clients import tasks as helpers
from clients.draw import draw_detections, image_grid
from export.pipeline.tolerance import assert_same_computation
from tests.fixtures.pictures import sample_picture

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_signatures(models_repo):
    """The served SavedModels loaded in this process: the independent reference."""
    tf = pytest.importorskip("tensorflow", reason="the in-process reference needs TensorFlow (not in a client install)")

    return {
        name: tf.saved_model.load(str(models_repo / name / "1")).signatures
        for name in ("efficientnet", "detr", "stylegan")
    }


def test_classify_image_matches_the_saved_model(models_client, local_signatures):
    import tensorflow as tf

    picture = sample_picture("china.jpg")
    top = helpers.classify_image(models_client, picture)
    expected = local_signatures["efficientnet"]["serving_default"](images=tf.constant([picture]))
    assert [name for name, _ in top] == [n.decode() for n in expected["class_names"].numpy()[0]]
    assert_same_computation([s for _, s in top], expected["scores"].numpy()[0])
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)


def test_classify_image_reads_a_path(models_client, tmp_path):
    path = tmp_path / "flower.jpg"
    path.write_bytes(sample_picture("flower.jpg"))
    assert helpers.classify_image(models_client, path) == helpers.classify_image(models_client, path.read_bytes())


def test_detect_matches_the_saved_model(models_client, local_signatures):
    import tensorflow as tf

    picture = sample_picture("china.jpg")
    detections = helpers.detect(models_client, picture)
    expected = local_signatures["detr"]["serving_default"](images=tf.constant([picture]))
    count = int(expected["num_detections"].numpy()[0])
    assert len(detections) == count > 0
    assert_same_computation([d.box for d in detections], expected["boxes"].numpy()[0, :count])
    assert_same_computation([d.score for d in detections], expected["scores"].numpy()[0, :count])
    assert [d.label for d in detections] == [n.decode() for n in expected["label_names"].numpy()[0, :count]]
    for d in detections:
        assert 0 <= d.box[0] <= d.box[2] <= 640 and 0 <= d.box[1] <= d.box[3] <= 427


def test_detect_with_a_request_threshold(models_client):
    picture = sample_picture("china.jpg")
    few = helpers.detect(models_client, picture, score_threshold=0.0, max_detections=3)
    assert len(few) == 3 and few == helpers.detect(models_client, picture)[:3]
    assert helpers.detect(models_client, picture, score_threshold=1.0) == []


def test_generate_matches_the_saved_model(models_client, local_signatures):
    import tensorflow as tf

    images = helpers.generate(models_client, [3, 11, 3], psi=0.5)
    expected = local_signatures["stylegan"]["generate_png"](
        seeds=tf.constant([3, 11, 3], tf.int64), truncation_psi=tf.constant(0.5)
    )
    for image, png in zip(images, expected["images_bytes"].numpy()):
        np.testing.assert_array_equal(np.asarray(image), np.asarray(Image.open(io.BytesIO(png))))
    np.testing.assert_array_equal(np.asarray(images[0]), np.asarray(images[2]))  # same seed, same picture
    assert not np.array_equal(np.asarray(images[0]), np.asarray(images[1]))


def test_drawings(models_client, tmp_path):
    picture = sample_picture("china.jpg")
    detections = helpers.detect(models_client, picture, score_threshold=0.0, max_detections=2)
    drawn = draw_detections(picture, detections)
    original = Image.open(io.BytesIO(picture)).convert("RGB")
    assert drawn.size == original.size
    x0, y0 = (int(round(v)) for v in detections[0].box[:2])
    assert not np.array_equal(np.asarray(drawn)[y0 : y0 + 3], np.asarray(original)[y0 : y0 + 3])  # box edge painted
    samples = helpers.generate(models_client, list(range(5)))
    grid = image_grid(samples, columns=3)
    w, h = samples[0].size
    assert grid.size == (3 * w, 2 * h)
    np.testing.assert_array_equal(np.asarray(grid)[h : 2 * h, w : 2 * w], np.asarray(samples[4].convert("RGB")))


@pytest.fixture(params=["rest", "grpc"])
def panoptic_client(request, panoptic_server):
    from tests.clients.conftest import make_client

    with make_client(request.param, panoptic_server, timeout=300) as c:
        yield c


def test_segment_matches_the_saved_model_and_draws_it(panoptic_client, panoptic_repo):
    tf = pytest.importorskip("tensorflow", reason="the in-process reference needs TensorFlow (not in a client install)")

    picture = sample_picture("china.jpg")
    result = helpers.segment(panoptic_client, picture)
    signature = tf.saved_model.load(str(panoptic_repo / "detr-panoptic" / "1")).signatures["serving_default"]
    expected = {k: v.numpy()[0] for k, v in signature(images=tf.constant([picture])).items()}
    count = int(expected["num_segments"])
    assert len(result.segments) == count > 0
    assert [s.id for s in result.segments] == expected["segment_ids"][:count].tolist()
    assert [s.category_id for s in result.segments] == expected["category_ids"][:count].tolist()
    assert [s.category_name for s in result.segments] == [n.decode() for n in expected["category_names"][:count]]
    assert [s.isthing for s in result.segments] == expected["isthing"][:count].tolist()
    assert [s.area for s in result.segments] == expected["areas"][:count].tolist()
    assert_same_computation([s.score for s in result.segments], expected["scores"][:count])
    assert result.png == expected["panoptic_png"]
    original = np.asarray(Image.open(io.BytesIO(picture)).convert("RGB"))
    assert result.segment_map.shape == original.shape[:2] and result.picture.size == (640, 427)
    np.testing.assert_array_equal(np.bincount(result.segment_map.ravel()), [s.area for s in result.segments])
    drawn = np.asarray(result.picture)
    assert (np.abs(drawn.astype(int) - original).sum(-1) > 0).mean() > 0.9  # segments coloured over the image


def test_segment_pictures_colour_each_segment(panoptic_client):
    """Two instances of one thing get different colours; each segment's pixels carry its colour over the
    image, without the tags (labels=False)."""
    from clients.draw import SEGMENT_ALPHA, draw_segments, segment_colors

    picture = sample_picture("flower.jpg")
    result = helpers.segment(panoptic_client, picture, model="detr-panoptic-tiny")
    assert result.segments
    plain = np.asarray(draw_segments(picture, result.segment_map, result.segments, labels=False)).astype(float)
    original = np.asarray(Image.open(io.BytesIO(picture)).convert("RGB")).astype(float)
    colours = segment_colors(result.segments)
    inner = np.ones(result.segment_map.shape, bool)  # pixels whose four neighbours are in the same segment
    ids = result.segment_map
    inner[1:-1, 1:-1] = (
        (ids[1:-1, 1:-1] == ids[:-2, 1:-1])
        & (ids[1:-1, 1:-1] == ids[2:, 1:-1])
        & (ids[1:-1, 1:-1] == ids[1:-1, :-2])
        & (ids[1:-1, 1:-1] == ids[1:-1, 2:])
    )
    inner[[0, -1]] = inner[:, [0, -1]] = False
    for segment in result.segments:
        where = (ids == segment.id) & inner
        if where.any():
            want = (1 - SEGMENT_ALPHA) * original[where] + SEGMENT_ALPHA * np.array(colours[segment.id], float)
            np.testing.assert_allclose(plain[where], want, atol=0.51)
    by_category: dict[int, set] = {}
    for segment in result.segments:
        by_category.setdefault(segment.category_id, set()).add(colours[segment.id])
    for category, seen in by_category.items():
        count = sum(s.category_id == category for s in result.segments)
        assert len(seen) == min(count, 8), category
