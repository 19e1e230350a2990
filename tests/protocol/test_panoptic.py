"""The panoptic wire facts: the COCO panoptic PNG id rule and the category table, without TensorFlow."""

import json

import numpy as np
import pytest

from protocol.panoptic import (
    MAX_SEGMENT_ID,
    channels_to_id,
    coco_panoptic_categories,
    id_to_channels,
    id_to_rgb,
    read_categories,
    rgb_to_id,
)


def test_segment_ids_round_trip_through_png_pixels():
    ids = np.array([[0, 1, 255, 256], [257, 65535, 65536, MAX_SEGMENT_ID]])
    rgb = id_to_rgb(ids)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 4, 3)
    assert rgb[0, 3].tolist() == [0, 1, 0] and rgb[1, 2].tolist() == [0, 0, 1]  # 256 = G, 65536 = B
    np.testing.assert_array_equal(rgb_to_id(rgb), ids)
    assert channels_to_id(*id_to_channels(123456)) == 123456  # plain integers too (and TF tensors in the graph)


def test_the_coco_panoptic_table():
    categories = coco_panoptic_categories()
    assert len(categories) == 133 and sum(c["isthing"] for c in categories) == 80
    assert all(bool(c["isthing"]) == (c["id"] <= 90) for c in categories)  # things are ids 1-90, stuff 92-200
    assert categories[0] == {"id": 1, "name": "person", "isthing": 1, "color": [220, 20, 60]}  # panopticapi's
    assert len({tuple(c["color"]) for c in categories}) == 133


def _table(tmp_path, categories):
    path = tmp_path / "categories.json"
    path.write_text(json.dumps({"categories": categories}))
    return path


def test_a_custom_table_is_read_and_checked(tmp_path):
    good = [
        {"id": 1, "name": "rectangle", "isthing": 1, "color": [255, 0, 0]},
        {"id": 4, "name": "ground", "isthing": 0},
    ]
    assert read_categories(_table(tmp_path, good)) == good
    for categories, message in [
        ([], "non-empty"),
        ([{"id": "1", "name": "a", "isthing": 1}], 'integer "id"'),
        ([{"id": 1, "name": "a", "isthing": 1}, {"id": 1, "name": "b", "isthing": 0}], "appears twice"),
        ([{"id": 1, "isthing": 1}], 'string "name"'),
        ([{"id": 1, "name": "a", "isthing": "yes"}], '"isthing" 0 or 1'),
        ([{"id": 1, "name": "a", "isthing": 1, "color": [256, 0, 0]}], '"color"'),
    ]:
        with pytest.raises(ValueError, match=message):
            read_categories(_table(tmp_path, categories))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="cannot read the category table"):
        read_categories(tmp_path / "broken.json")
