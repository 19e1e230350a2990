"""The export pipeline: versions, verification derived from the traced endpoints, warmup and export_info."""

import json
import time

import numpy as np
import pytest
import tensorflow as tf

from export.errors import ExportError
from export.pipeline import write_version
from export.pipeline.endpoint import Endpoint
from export.pipeline.inspection import read_export_info, signature_defs
from export.pipeline.publish import existing_versions
from protocol.methods import CLASSIFY_METHOD
from tests.export.pipeline.exportables import half_plus_two
from tests.export.warmup import warmup_kinds, warmup_requests


def test_versions_count_up_and_are_complete(tmp_path):
    first = write_version(half_plus_two(), models_dir=tmp_path, name="hp2")
    second = write_version(half_plus_two(), models_dir=tmp_path, name="hp2")
    assert (first.name, second.name) == ("1", "2")
    for version in (first, second):
        assert (version / "saved_model.pb").is_file()
        assert (version / "assets.extra" / "tf_serving_warmup_requests").is_file()
        assert (version / "assets.extra" / "export_info.json").is_file()
    assert sorted(p.name for p in (tmp_path / "hp2").iterdir()) == ["1", "2"]  # no staging left behind
    loaded = tf.saved_model.load(str(second))
    np.testing.assert_allclose(loaded.signatures["serving_default"](x=tf.constant([[6.0]]))["y"], [[5.0]])


def test_explicit_version_is_never_overwritten_without_force(tmp_path):
    write_version(half_plus_two(), models_dir=tmp_path, name="hp2", version=7)
    with pytest.raises(ExportError, match="already exists"):
        write_version(half_plus_two(), models_dir=tmp_path, name="hp2", version=7)
    before = (tmp_path / "hp2" / "7" / "assets.extra" / "export_info.json").read_text()
    time.sleep(1.1)
    write_version(half_plus_two(), models_dir=tmp_path, name="hp2", version=7, force=True)
    assert (tmp_path / "hp2" / "7" / "assets.extra" / "export_info.json").read_text() != before
    assert existing_versions(tmp_path / "hp2") == [7]
    assert sorted(p.name for p in (tmp_path / "hp2").iterdir()) == ["7"]


def test_odd_directory_names_beside_versions_are_not_versions(tmp_path):
    base = tmp_path / "hp2"
    for name in ("0002", "²", "١", "v9", "1.5", "-4"):
        (base / name).mkdir(parents=True)  # "²".isdigit() is True and int("²") raises
    assert existing_versions(base) == [-4, 2]  # what TF Serving would read: -4 and 2
    assert write_version(half_plus_two(), models_dir=tmp_path, name="hp2").name == "3"


def test_failed_verification_publishes_nothing(tmp_path):
    """An endpoint whose answer depends on its own state: the reloaded model answers differently."""
    model = half_plus_two().model
    calls = tf.Variable(0.0)

    def counting(x):
        calls.assign_add(1.0)
        return {"y": model(x) + calls}

    stateful = Endpoint("serving_default", counting, [tf.TensorSpec([None, 1], tf.float32, name="x")])
    with pytest.raises(ExportError, match=r"verification failed: serving_default/y max abs diff 1 > 0.00061"):
        write_version(half_plus_two(endpoints=[stateful]), models_dir=tmp_path, name="hp2")
    assert list((tmp_path / "hp2").iterdir()) == []


def test_export_without_serving_default_is_refused(tmp_path):
    endpoint = half_plus_two().endpoints[0]
    other = Endpoint("other", endpoint.fn, endpoint.input_signature)
    with pytest.raises(ExportError, match="serving_default"):
        write_version(half_plus_two(endpoints=[other], examples={}), models_dir=tmp_path, name="hp2")
    assert not (tmp_path / "hp2").exists() or list((tmp_path / "hp2").iterdir()) == []


def test_every_output_is_checked_and_warmup_holds_the_first_example(tmp_path):
    """Integer, string and float outputs of every signature are compared; warmup replays one row each."""
    exportable = half_plus_two()
    model = exportable.model

    def describe(x):
        y = model(x)
        return {"y": y, "rounded": tf.cast(tf.round(y), tf.int64), "text": tf.strings.as_string(y, precision=1)}

    def classify(inputs):
        x = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]
        return {"scores": model(x)}

    example = tf.train.Example(
        features=tf.train.Features(feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=[3.0]))})
    ).SerializeToString()
    endpoints = [
        Endpoint("serving_default", describe, [tf.TensorSpec([None, 1], tf.float32, name="x")]),
        Endpoint(
            "classify",
            classify,
            [tf.TensorSpec([None], tf.string, name="inputs")],
            method_name=CLASSIFY_METHOD,
            examples={"inputs": [example, example]},
        ),
    ]
    version = write_version(half_plus_two(endpoints=endpoints), models_dir=tmp_path, name="hp2")

    signatures = signature_defs(version)
    assert signatures["classify"]["method_name"] == CLASSIFY_METHOD
    assert {k: v["dtype"] for k, v in signatures["serving_default"]["outputs"].items()} == {
        "y": "DT_FLOAT",
        "rounded": "DT_INT64",
        "text": "DT_STRING",
    }
    assert warmup_kinds(version, "hp2") == {"serving_default": "predict_log", "classify": "classify_log"}
    requests = warmup_requests(version)
    np.testing.assert_array_equal(tf.make_ndarray(requests["serving_default"][1].inputs["x"]), [[1.0]])
    assert [e.SerializeToString() for e in requests["classify"][1].input.example_list.examples] == [example]

    info = read_export_info(version)
    assert info["model"] == "half_plus_two" and info["name"] == "hp2"
    assert info["parameters"] == {"trainable": 2, "non_trainable": 0, "total": 2}
    assert info["signatures"] == signatures
    json.dumps(info)


def test_numeric_examples_are_drawn_from_the_specs_and_text_is_given_words(tmp_path):
    model = half_plus_two().model
    endpoints = [
        Endpoint("serving_default", lambda x: {"y": model(x)}, [tf.TensorSpec([None, 1], tf.float32, name="x")]),
        Endpoint("length", lambda s: {"n": tf.strings.length(s)}, [tf.TensorSpec([None], tf.string, name="s")]),
    ]
    version = write_version(half_plus_two(endpoints=endpoints, examples={}), models_dir=tmp_path, name="hp2")
    shapes = {
        signature: {k: tf.make_ndarray(v).shape for k, v in request.inputs.items()}
        for signature, (_, request) in warmup_requests(version).items()
    }
    assert shapes == {"serving_default": {"x": (1, 1)}, "length": {"s": (1,)}}


@pytest.mark.parametrize(
    "examples, message",
    [
        ({"serving_default": {"x": np.ones((2, 3), np.float32)}}, r"serving_default/x has shape \[2, 3\]"),
        ({"serving_default": {"x": np.ones((2, 1)), "z": np.ones(2)}}, r"unexpected \['z'\]"),
        ({"serving_default": {}}, r"missing \['x'\]"),
        ({"nope": {"x": np.ones((1, 1))}}, "unknown signature 'nope'"),
    ],
)
def test_wrong_examples_are_refused_before_writing(tmp_path, examples, message):
    with pytest.raises(ExportError, match=message):
        write_version(half_plus_two(examples=examples), models_dir=tmp_path, name="hp2")
    assert not (tmp_path / "hp2").exists()


def test_an_endpoint_failing_on_its_examples_is_one_clear_error(tmp_path):
    decode = Endpoint(
        "images",
        lambda images: {"size": tf.shape(tf.io.decode_image(images[0]))},
        [tf.TensorSpec([None], tf.string, name="images")],
    )
    with pytest.raises(ExportError, match="endpoint 'images' fails on its example inputs"):
        write_version(half_plus_two(endpoints=[*half_plus_two().endpoints, decode]), models_dir=tmp_path, name="hp2")
    assert list((tmp_path / "hp2").iterdir()) == []
