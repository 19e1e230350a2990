"""`python -m export detr --panoptic`: an official-format checkpoint and small random weights exported, served
by `python -m serving`, and answered over REST and gRPC as the SavedModel answers in-process."""

import io
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from clients.tfs_grpc import GrpcClient
from clients.tfs_rest import RestClient
from export.cli import main
from export.pipeline.tolerance import assert_same_computation
from protocol import outputs
from protocol.panoptic import coco_panoptic_categories, rgb_to_id
from tests.export.warmup import warmup_kinds
from tests.fixtures.detr import DETR_FIXTURE_MAX_SIZE, DETR_FIXTURE_MIN_SIZE
from tests.fixtures.pictures import sample_picture

pytestmark = pytest.mark.slow

SEGMENT_OUTPUTS = (outputs.PANOPTIC_PNG, *outputs.SEGMENT_OUTPUTS)
RAW_OUTPUTS = (*outputs.RAW_DETR_OUTPUTS, outputs.PRED_MASKS)
MODELS = ("detr-panoptic", "detr-panoptic-tiny")


@pytest.fixture(scope="module")
def local(panoptic_repo):
    """The served SavedModels loaded in this process: the reference the server's answers are held to."""
    return {name: tf.saved_model.load(str(panoptic_repo / name / "1")).signatures for name in MODELS}


@pytest.fixture(params=["rest", "grpc"])
def client(request, panoptic_server):
    make = RestClient if request.param == "rest" else GrpcClient
    address = panoptic_server.rest_url if request.param == "rest" else panoptic_server.grpc_address
    with make(address, timeout=300) as c:
        yield c


def test_signatures_are_the_issues(detr_panoptic_export):
    loaded = tf.saved_model.load(str(detr_panoptic_export))
    assert set(loaded.signatures) == {"serving_default", "raw"}
    default, raw = loaded.signatures["serving_default"], loaded.signatures["raw"]
    assert set(default.structured_input_signature[1]) == {"images"}
    assert default.structured_input_signature[1]["images"].dtype == tf.string
    assert set(default.structured_outputs) == {*SEGMENT_OUTPUTS, outputs.PANOPTIC_PNG_BYTES}
    assert set(raw.structured_input_signature[1]) == {"pixels"}
    assert raw.structured_input_signature[1]["pixels"].shape.as_list() == [None, None, None, 3]
    assert set(raw.structured_outputs) == set(RAW_OUTPUTS)


def test_export_info_names_the_checkpoint_and_ships_the_categories(detr_panoptic_export, detr_panoptic_tiny_export):
    info = json.loads((detr_panoptic_export / "assets.extra" / "export_info.json").read_text())
    assert info["model"] == "detr-panoptic" and info["variant"] == "resnet50-panoptic"
    assert info["weights"] == "official-format checkpoint detr-r50-panoptic-random.pth"
    assert info["input_size"] == {"min_size": DETR_FIXTURE_MIN_SIZE, "max_size": DETR_FIXTURE_MAX_SIZE}
    assert info["config"]["num_classes"] == 250
    shipped = json.loads((detr_panoptic_export / "assets" / "coco_panoptic_categories.json").read_text())
    assert shipped["categories"] == coco_panoptic_categories()  # panopticapi's 133, colours included
    warmup = warmup_kinds(detr_panoptic_export, "detr-panoptic")
    assert warmup == {"serving_default": "predict_log", "raw": "predict_log"}
    tiny = json.loads((detr_panoptic_tiny_export / "assets.extra" / "export_info.json").read_text())
    assert tiny["weights"] == "random initialisation" and tiny["config"]["num_queries"] == 12


@pytest.mark.parametrize("model", MODELS)
def test_served_segments_are_the_saved_models(client, local, model):
    pictures = [sample_picture("china.jpg"), sample_picture("flower.jpg")]
    # REST writes a binary string output as base64 only under a name ending in _bytes: the same PNG.
    png = "panoptic_png_bytes" if isinstance(client, RestClient) else "panoptic_png"
    wanted = [png, *SEGMENT_OUTPUTS[1:]]
    got = client.predict(model, {"images": np.array(pictures, dtype=object)}, output_filter=wanted)
    expected = {k: v.numpy() for k, v in local[model]["serving_default"](images=tf.constant(pictures)).items()}
    assert set(got) == set(wanted)
    count = expected["num_segments"]
    assert (count > 0).all()
    np.testing.assert_array_equal(got["num_segments"], count)
    for key in ("segment_ids", "category_ids", "isthing", "areas"):
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    assert_same_computation(got["scores"], expected["scores"])
    assert [[bytes(n) for n in row] for row in got["category_names"]] == expected["category_names"].tolist()
    for i, (picture, served) in enumerate(zip(pictures, got[png])):
        assert bytes(served) == expected["panoptic_png"][i]
        ids = rgb_to_id(np.asarray(Image.open(io.BytesIO(served)).convert("RGB")))
        width, height = Image.open(io.BytesIO(picture)).size
        assert ids.shape == (height, width)  # the segment map is at the size of the image sent
        np.testing.assert_array_equal(np.bincount(ids.ravel(), minlength=count[i]), expected["areas"][i, : count[i]])


@pytest.mark.parametrize("model", MODELS)
def test_served_raw_outputs_are_the_saved_models(client, local, model):
    pixels = np.random.default_rng(3).normal(size=(1, 70, 90, 3)).astype(np.float32)
    got = client.predict(model, {"pixels": pixels}, signature="raw")
    expected = local[model]["raw"](pixels=tf.constant(pixels))
    queries = 100 if model == "detr-panoptic" else 12
    assert got["pred_logits"].shape == (1, queries, 251) and got["pred_boxes"].shape == (1, queries, 4)
    assert got["pred_masks"].shape == (1, queries, 18, 23)  # [N, queries, ceil(H / 4), ceil(W / 4)]
    for key in RAW_OUTPUTS:
        assert_same_computation(got[key], expected[key].numpy(), err_msg=key)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--panoptic", "--max-detections", "5"], "--max-detections is for detection"),
        (["--categories", "table.json"], "add --panoptic"),
        (["--panoptic", "--score-threshold", "2"], "--score-threshold must be in [0, 1]"),
    ],
)
def test_impossible_panoptic_settings_fail_before_building(tmp_path, capsys, flags, message):
    assert main(["detr", "--models-dir", str(tmp_path), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_checkpoint_of_the_other_kind_is_named(tmp_path, capsys, detr_checkpoint, detr_panoptic_checkpoint):
    assert main(["detr", "--panoptic", "--checkpoint", str(detr_checkpoint), "--models-dir", str(tmp_path)]) == 2
    assert "DETR detector checkpoint" in capsys.readouterr().err
    assert main(["detr", "--checkpoint", str(detr_panoptic_checkpoint), "--models-dir", str(tmp_path)]) == 2
    assert "--panoptic" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_bad_category_table_fails_before_building(tmp_path, capsys):
    table = tmp_path / "categories.json"
    table.write_text(json.dumps({"categories": [{"id": 300, "name": "too far", "isthing": 1}]}))
    models = tmp_path / "models"
    assert main(["detr", "--panoptic", "--categories", str(table), "--models-dir", str(models)]) == 2
    assert "id 300 needs a model with more than 250 classes" in capsys.readouterr().err
    assert not models.exists() or not any(models.iterdir())
