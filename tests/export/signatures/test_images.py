"""In-graph decoding: the pixel limit refuses image bombs before decoding (in-process and in a real
server, so the official image is protected the same way), real photos pass, crop/resize/normalise."""

import base64
import json

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from export.pipeline.inspection import read_export_info
from export.signatures.images import center_crop_and_resize, decode_rgb, normalize
from serving.testing.server_process import ServerProcess, model_config_text
from tests.fixtures.pictures import png_bomb, sample_picture

GB = 1 << 30


def peak_rss_bytes(pid: int | None = None) -> int:
    """VmHWM (peak resident set) of a process, this one by default."""
    status = open(f"/proc/{pid or 'self'}/status").read()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024


def test_a_png_bomb_is_refused_before_decoding_without_memory_growth():
    decode = tf.function(lambda data: decode_rgb(data), input_signature=[tf.TensorSpec([], tf.string)], autograph=False)
    decode(tf.constant(sample_picture()))
    before = peak_rss_bytes()
    with pytest.raises(tf.errors.InvalidArgumentError, match="image too large: 20000x20000"):
        decode(tf.constant(png_bomb()))
    assert peak_rss_bytes() - before < GB // 4  # decoding would take 1.2 GB


def test_the_limit_is_the_exporters_choice():
    photo = sample_picture()  # 640x427 = 273,280 pixels
    assert decode_rgb(photo, max_pixels=273_280).shape == (427, 640, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 273279"):
        decode_rgb(photo, max_pixels=273_279)


def test_unsupported_formats_are_refused_and_real_photos_decode_unchanged():
    with pytest.raises(tf.errors.InvalidArgumentError, match="unsupported or unreadable image"):
        decode_rgb(b"\0\0\0\x0cJXL \r\n\x87\n" + bytes(40))
    for name in ("china.jpg", "flower.jpg"):
        photo = sample_picture(name)
        np.testing.assert_array_equal(decode_rgb(photo), tf.io.decode_image(photo, channels=3))
    grey = decode_rgb(sample_picture(), channels=1)
    assert grey.shape == (427, 640, 1)


def test_centre_crop_keeps_the_output_aspect_ratio():
    image = tf.reshape(tf.range(100 * 200 * 3, dtype=tf.float32) % 256, [100, 200, 3])
    assert center_crop_and_resize(image, 64).shape == (64, 64, 3)
    assert center_crop_and_resize(image, (48, 96)).shape == (48, 96, 3)
    # A uniform picture stays uniform whatever is cropped.
    flat = center_crop_and_resize(tf.fill([30, 90, 3], 200.0), (20, 10))
    np.testing.assert_allclose(flat, 200.0, atol=1e-3)


@pytest.mark.parametrize(
    "mode, expected", [("none", 255.0), ("unit", 1.0), ("symmetric", 1.0), ("imagenet", (1 - 0.485) / 0.229)]
)
def test_normalisations(mode, expected):
    assert float(normalize(tf.constant([[[255.0, 0.0, 0.0]]]), mode)[0, 0, 0]) == pytest.approx(expected, rel=1e-6)


@pytest.fixture(scope="module")
def bombs_and_photos():
    return {"bomb": png_bomb(), "photo": sample_picture()}


def test_exported_image_signatures_refuse_the_bomb_and_take_photos(efficientnet_export, detr_export, bombs_and_photos):
    for export_dir in (efficientnet_export, detr_export):
        assert read_export_info(export_dir)["max_image_pixels"] == 50_000_000
        loaded = tf.saved_model.load(str(export_dir))
        serving = loaded.signatures["serving_default"]
        assert serving(images=tf.constant([bombs_and_photos["photo"]]))["scores"].shape[0] == 1
        with pytest.raises(tf.errors.InvalidArgumentError, match="image too large"):
            serving(images=tf.constant([bombs_and_photos["photo"], bombs_and_photos["bomb"]]))


@pytest.mark.slow
def test_a_real_server_answers_the_bomb_with_400_and_invalid_argument_without_growing(
    efficientnet_export, detr_export, bombs_and_photos, tmp_path
):
    config = tmp_path / "models.config"
    config.write_text(
        model_config_text(
            [
                {"name": "efficientnet", "base_path": efficientnet_export.parent},
                {"name": "detr", "base_path": detr_export.parent},
            ]
        )
    )
    bomb = {"b64": base64.b64encode(bombs_and_photos["bomb"]).decode()}
    photo = {"b64": base64.b64encode(bombs_and_photos["photo"]).decode()}
    with ServerProcess(model_config_file=config, args=["--file_system_poll_wait_seconds=0"]) as server:
        for model in ("efficientnet", "detr"):  # real photos pass (and warm the server up)
            reply = requests.post(
                f"{server.rest_url}/v1/models/{model}:predict", json={"instances": [photo]}, timeout=300
            )
            assert reply.status_code == 200, reply.text
        before = peak_rss_bytes(server.process.pid)
        channel = grpc.insecure_channel(server.grpc_address)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for model in ("efficientnet", "detr"):
            reply = requests.post(
                f"{server.rest_url}/v1/models/{model}:predict", json={"instances": [bomb]}, timeout=300
            )
            assert reply.status_code == 400
            assert "image too large: 20000x20000" in json.loads(reply.text)["error"]
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model
            request.inputs["images"].CopyFrom(tf.make_tensor_proto([bombs_and_photos["bomb"]]))
            with pytest.raises(grpc.RpcError) as error:
                stub.Predict(request, timeout=300)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "image too large" in error.value.details()
        channel.close()
        growth = peak_rss_bytes(server.process.pid) - before
        assert growth < GB // 2, f"server peak RSS grew by {growth / GB:.2f} GB"
        reply = requests.post(
            f"{server.rest_url}/v1/models/efficientnet:predict", json={"instances": [photo]}, timeout=300
        )
        assert reply.status_code == 200  # still serving
