"""The exported EfficientNet signatures: bytes in → labels out, pixels, classify, clear errors."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from export.efficientnet.signatures import imagenet_class_names
from export.pipeline.inspection import signature_defs
from export.pipeline.tolerance import assert_same_computation
from export.signatures.images import center_crop_and_resize, decode_rgb


@pytest.fixture(scope="module")
def loaded(efficientnet_export):
    return tf.saved_model.load(str(efficientnet_export))


def test_signatures_have_client_readable_names_dtypes_and_shapes(efficientnet_export):
    sigs = signature_defs(efficientnet_export)
    assert set(sigs) == {"serving_default", "predict_pixels", "classify"}
    default = sigs["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert {k: (v["dtype"], v["shape"]) for k, v in default["inputs"].items()} == {"images": ("DT_STRING", [-1])}
    assert {k: (v["dtype"], v["shape"]) for k, v in default["outputs"].items()} == {
        "class_ids": ("DT_INT32", [-1, 5]),
        "class_names": ("DT_STRING", [-1, 5]),
        "scores": ("DT_FLOAT", [-1, 5]),
    }
    pixels = sigs["predict_pixels"]
    assert pixels["inputs"]["pixels"]["dtype"] == "DT_FLOAT"
    assert pixels["inputs"]["pixels"]["shape"] == [-1, 224, 224, 3]
    assert pixels["outputs"]["probabilities"]["shape"] == [-1, 1000]
    classify = sigs["classify"]
    assert classify["method_name"] == "tensorflow/serving/classify"
    assert set(classify["inputs"]) == {"inputs"} and set(classify["outputs"]) == {"classes", "scores"}


def test_saved_model_cli_reads_the_export(efficientnet_export):
    cli = [
        sys.executable,
        "-m",
        "tensorflow.python.tools.saved_model_cli",
        "show",
        "--dir",
        str(efficientnet_export),
        "--all",
    ]
    result = subprocess.run(cli, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "signature_def['serving_default']" in result.stdout
    assert "inputs['images'] tensor_info" in result.stdout
    assert "outputs['class_names'] tensor_info" in result.stdout


def test_real_jpeg_in_top5_labels_out_equal_to_keras(loaded, efficientnet_keras, china_jpeg):
    out = loaded.signatures["serving_default"](images=tf.constant([china_jpeg]))
    ids, names, scores = out["class_ids"].numpy(), out["class_names"].numpy(), out["scores"].numpy()
    assert ids.shape == names.shape == scores.shape == (1, 5)
    classes = imagenet_class_names()
    assert [n.decode() for n in names[0]] == [classes[i] for i in ids[0]]
    assert np.all(np.diff(scores[0]) <= 0) and 0 < scores[0].sum() <= 1.0 + 1e-6

    # The Keras model on the picture decoded and cropped in-process gives the same top-5.
    pixels = center_crop_and_resize(decode_rgb(tf.constant(china_jpeg)), 224)[tf.newaxis]
    probabilities = np.asarray(efficientnet_keras(pixels, training=False))[0]
    assert ids[0][0] == np.argmax(probabilities)
    assert_same_computation(scores[0], np.sort(probabilities)[::-1][:5])
    assert_same_computation(probabilities[ids[0]], scores[0])  # ids name those scores (ties aside)


def test_pixel_signature_equals_keras(loaded, efficientnet_keras):
    pixels = np.random.default_rng(3).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    out = loaded.signatures["predict_pixels"](pixels=tf.constant(pixels))
    expected = np.asarray(efficientnet_keras(pixels, training=False))
    assert_same_computation(out["probabilities"].numpy(), expected)
    assert expected.max() > 0.02  # informative: 20x a uniform 1/1000, so a wrong weight or pixel would show


def test_png_with_alpha_and_grey_jpeg_are_read_as_rgb(loaded):
    rgba = tf.io.encode_png(tf.zeros([40, 60, 4], tf.uint8))  # transparent black
    grey = tf.io.encode_jpeg(tf.fill([50, 30, 1], tf.constant(128, tf.uint8)))  # a flat JPEG decodes exactly
    out = loaded.signatures["serving_default"](images=tf.stack([rgba, grey]))
    # What the two pictures are as RGB: black, and 128 in every channel (resizing keeps a flat picture flat).
    pixels = np.stack([np.zeros((224, 224, 3)), np.full((224, 224, 3), 128.0)]).astype(np.float32)
    probabilities = loaded.signatures["predict_pixels"](pixels=tf.constant(pixels))["probabilities"].numpy()
    assert np.abs(probabilities[0] - probabilities[1]).max() > 0.01  # the model tells the two apart
    assert out["class_ids"].numpy()[:, 0].tolist() == probabilities.argmax(axis=1).tolist()
    assert_same_computation(out["scores"].numpy(), -np.sort(-probabilities, axis=1)[:, :5])


def test_corrupt_image_is_an_invalid_argument(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["serving_default"](images=tf.constant([b"not an image"]))


def test_classify_signature_takes_tf_examples(loaded, china_jpeg):
    example = tf.train.Example(
        features=tf.train.Features(
            feature={"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[china_jpeg]))}
        )
    )
    out = loaded.signatures["classify"](inputs=tf.constant([example.SerializeToString()]))
    direct = loaded.signatures["serving_default"](images=tf.constant([china_jpeg]))
    np.testing.assert_array_equal(out["classes"].numpy(), direct["class_names"].numpy())
    assert_same_computation(out["scores"].numpy(), direct["scores"].numpy())
