"""The project's real export (EfficientNet-B0, informative weights: tests/fixtures/efficientnet.py) through the server.

Each answer is checked against an in-process call of the same SavedModel run the way the server runs it
(a Session, serving.servable.Servable): what REST and gRPC add must change nothing."""

from __future__ import annotations

import base64

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from export.pipeline.tolerance import assert_same_computation
from serving.servable import Servable
from serving.testing.server_process import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(efficientnet_export):
    base = efficientnet_export.parent
    with ServerProcess(
        model_name="efficientnet", model_base_path=base, args=["--file_system_poll_wait_seconds=0"]
    ) as server:
        loaded = Servable("efficientnet", 1, str(efficientnet_export))
        yield server, loaded
        loaded.unload()


def _jpeg(seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    return tf.io.encode_jpeg(image).numpy()


def test_grpc_pixels_match_the_in_process_signature(served):
    server, loaded = served
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    expected = loaded.predict("predict_pixels", {"pixels": pixels})
    channel = grpc.insecure_channel(server.grpc_address)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "efficientnet"
    request.model_spec.signature_name = "predict_pixels"
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(pixels))
    response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=120)
    channel.close()
    assert_same_computation(tf.make_ndarray(response.outputs["probabilities"]), expected["probabilities"])
    assert tf.make_ndarray(response.outputs["class_names"]).tolist() == expected["class_names"].tolist()


def test_rest_b64_jpeg_and_classify_match_the_in_process_signature(served):
    server, loaded = served
    images = [_jpeg(2), _jpeg(3)]
    expected = loaded.predict("serving_default", {"images": np.array(images, dtype=object)})
    reply = requests.post(
        f"{server.rest_url}/v1/models/efficientnet:predict",
        json={"instances": [{"b64": base64.b64encode(i).decode()} for i in images]},
        timeout=120,
    )
    assert reply.status_code == 200, reply.text
    rows = reply.json()["predictions"]
    assert [r["class_ids"] for r in rows] == expected["class_ids"].tolist()
    assert_same_computation([r["scores"] for r in rows], expected["scores"])

    examples = [{"image": {"b64": base64.b64encode(i).decode()}} for i in images]
    classify = requests.post(
        f"{server.rest_url}/v1/models/efficientnet:classify",
        json={"signature_name": "classify", "examples": examples},
        timeout=120,
    )
    assert classify.status_code == 200, classify.text
    results = classify.json()["results"]
    names = expected["class_names"]
    for row, (result_names, result_scores) in enumerate(zip(names, expected["scores"])):
        assert [label for label, _ in results[row]] == [n.decode() for n in result_names]
        assert_same_computation([score for _, score in results[row]], result_scores)

    corrupt = requests.post(
        f"{server.rest_url}/v1/models/efficientnet:predict",
        json={"instances": [{"b64": base64.b64encode(b"not an image").decode()}]},
        timeout=120,
    )
    assert corrupt.status_code == 400 and "error" in corrupt.json()


def test_an_image_bomb_is_refused_before_decoding(served, efficientnet_export):
    """A 64 MP PNG (~200 KB) to the bytes signature: the export reads width and height from the encoded
    header in the graph and refuses images over its pixel limit (``--max-image-pixels``, 50 MP by
    default, recorded in export_info.json) with INVALID_ARGUMENT before decoding, memory unchanged."""
    from benchmarks.reliability import run_image_bomb
    from export.pipeline.inspection import read_export_info
    from export.signatures.image_options import DEFAULT_MAX_IMAGE_PIXELS

    server, _ = served
    assert read_export_info(efficientnet_export)["max_image_pixels"] == DEFAULT_MAX_IMAGE_PIXELS < 8000 * 8000
    result = run_image_bomb(server, "efficientnet", side=8000)
    assert "pixel" in result["error"], result
    assert result["status"] == 400 and result["peak_rss_growth_mib"] < 200, result
