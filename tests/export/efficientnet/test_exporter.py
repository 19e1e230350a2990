"""What the EfficientNet export writes beside its signatures: warmup requests, export_info, class names, size."""

import json

import pytest
import tensorflow as tf

from export.efficientnet.signatures import imagenet_class_names
from export.pipeline.inspection import read_export_info
from tests.export.warmup import warmup_kinds, warmup_requests


@pytest.fixture(scope="module")
def loaded(efficientnet_export):
    return tf.saved_model.load(str(efficientnet_export))


def test_warmup_file_holds_one_request_per_signature_that_the_model_answers(efficientnet_export, loaded):
    """predict_pixels and serving_default as PredictLogs, classify as a ClassifyLog (its API's own path)."""
    assert warmup_kinds(efficientnet_export, "efficientnet") == {
        "serving_default": "predict_log",
        "predict_pixels": "predict_log",
        "classify": "classify_log",
    }
    by_signature = warmup_requests(efficientnet_export)
    for signature in ("serving_default", "predict_pixels"):
        request = by_signature[signature][1]
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        outputs = loaded.signatures[signature](**inputs)
        assert outputs["scores"].shape[0] == 1
    examples = by_signature["classify"][1].input.example_list.examples
    assert len(examples) == 1
    serialized = tf.constant([examples[0].SerializeToString()])
    assert loaded.signatures["classify"](inputs=serialized)["scores"].shape == (1, 5)


def test_export_info_and_class_names_travel_with_the_model(efficientnet_export, efficientnet_weights):
    info = read_export_info(efficientnet_export)
    assert info["model"] == "efficientnet" and info["variant"] == "b0"
    assert info["weights"] == str(efficientnet_weights)
    assert info["parameters"] == {"trainable": 5_288_548, "non_trainable": 42_023, "total": 5_330_571}
    assert info["input_size"] == [224, 224, 3]
    assert set(info["signatures"]) == {"serving_default", "predict_pixels", "classify"}
    assert info["tensorflow_version"] == tf.__version__ and info["keras_version"]
    assert info["created"].endswith("+00:00")
    json.dumps(info)
    shipped = (efficientnet_export / "assets" / "imagenet_classes.txt").read_text().splitlines()
    assert shipped == imagenet_class_names() and len(shipped) == 1000
    assert shipped[0] == "tench" and shipped[-1] == "toilet tissue"


def test_each_weight_is_stored_once(efficientnet_export):
    """ExportArchive can save a layer's variables twice; the export must hold each weight once."""
    stored = sum(f.stat().st_size for f in (efficientnet_export / "variables").iterdir())
    weights_bytes = 4 * 5_330_571
    assert weights_bytes <= stored < 1.1 * weights_bytes
