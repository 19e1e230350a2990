"""`python -m export keras`: five kinds of user model exported, served by `python -m serving`, and
answered over REST and gRPC as the in-process model answers; labels, examples, images, the Python API."""

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import grpc
import keras
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from export.cli import main
from export.errors import ExportError
from export.keras_model.exporter import export_model
from export.pipeline.endpoint import Endpoint
from export.pipeline.inspection import read_export_info, signature_defs
from export.pipeline.tolerance import assert_same_computation
from export.pipeline.warmup import read_warmup_requests
from export.signatures.images import center_crop_and_resize, decode_rgb, normalize
from serving.testing.server_process import ServerProcess, model_config_text
from tests.export.cli_output import messages
from tests.export.keras_model import models
from tests.fixtures.pictures import png_bomb, sample_picture

REPO = Path(__file__).resolve().parents[3]
# What TensorFlow's C++ logging prints on import whatever TF_CPP_MIN_LOG_LEVEL says (not the CLI's output).
LABELS = ["setosa", "versicolor", "virginica"]


def run_cli(*args: str, cwd: Path = REPO, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "export", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def rng_inputs(seed: int, **shapes) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}


# Per exported model: the in-process model (as loaded back from what was exported) and request inputs.
CASES = {
    "flowers": lambda: rng_inputs(10, features=(3, 4)),
    "two": lambda: rng_inputs(11, age=(2, 3), history=(2, 5, 2)),
    "subclassed": lambda: rng_inputs(12, measurements=(3, 5)),
    "text": lambda: {"text": np.array([["the lazy fox"], ["hello there world"]], dtype=object)},
    "legacy": lambda: rng_inputs(13, features=(2, 4)),
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every case exported into one repository; the Keras models they came from, reloaded."""
    root = tmp_path_factory.mktemp("keras-models")
    repo = root / "models"
    (root / "labels.txt").write_text("".join(f"{label}\n" for label in LABELS))
    models.sequential().save(root / "flowers.keras")
    models.two_in_two_out().save(root / "two.keras")
    models.text_classifier().save(root / "text.keras")
    models.sequential().save(root / "legacy.h5")
    for argv in (
        ["flowers.keras", "--labels", "labels.txt", "--top-k", "2"],
        ["two.keras"],
        ["text.keras"],
        ["tests.export.keras_model.models:build_subclassed", "--name", "subclassed"],
    ):
        path = argv[0] if ":" in argv[0] else str(root / argv[0])
        argv = [path, *[str(root / a) if a == "labels.txt" else a for a in argv[1:]]]
        assert main(["keras", *argv, "--models-dir", str(repo)]) == 0, argv
    result = run_cli("keras", str(root / "legacy.h5"), "--models-dir", str(repo))  # the real command, an .h5
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str(repo / "legacy" / "1")
    keras_models = {
        "flowers": keras.saving.load_model(root / "flowers.keras"),
        "two": keras.saving.load_model(root / "two.keras"),
        "text": keras.saving.load_model(root / "text.keras"),
        "legacy": keras.saving.load_model(root / "legacy.h5"),
        "subclassed": models.build_subclassed(),
    }
    return repo, keras_models


@pytest.fixture(scope="module")
def server(exported, tmp_path_factory):
    repo, _ = exported
    config = tmp_path_factory.mktemp("keras-config") / "models.config"
    config.write_text(model_config_text([{"name": name, "base_path": repo / name} for name in CASES]))
    with ServerProcess(model_config_file=config, args=["--file_system_poll_wait_seconds=0"]) as process:
        yield process


def in_process(model, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the Keras model answers, with its outputs named as the export names them."""
    result = model(inputs if len(inputs) > 1 else next(iter(inputs.values())), training=False)
    if isinstance(result, dict):
        return {k: np.asarray(v) for k, v in result.items()}
    name = (
        model.layers[-1].name
        if isinstance(model, keras.Sequential)
        else (model.output_names[0] if getattr(model, "inputs", None) else "output_0")
    )
    return {name: np.asarray(result)}


def test_signatures_take_the_models_named_inputs_and_return_its_named_outputs(exported):
    repo, _ = exported
    expected = {
        "flowers": (
            {"features": ("DT_FLOAT", [-1, 4])},
            {
                "probabilities": ("DT_FLOAT", [-1, 3]),
                "class_ids": ("DT_INT32", [-1, 2]),
                "class_names": ("DT_STRING", [-1, 2]),
                "scores": ("DT_FLOAT", [-1, 2]),
            },
        ),
        "two": (
            {"age": ("DT_FLOAT", [-1, 3]), "history": ("DT_FLOAT", [-1, 5, 2])},
            {"price": ("DT_FLOAT", [-1, 1]), "category": ("DT_FLOAT", [-1, 4])},
        ),
        "subclassed": ({"measurements": ("DT_FLOAT", [-1, 5])}, {"output_0": ("DT_FLOAT", [-1, 2])}),
        "text": ({"text": ("DT_STRING", [-1, 1])}, {"sentiment": ("DT_FLOAT", [-1, 2])}),
        "legacy": ({"features": ("DT_FLOAT", [-1, 4])}, {"probabilities": ("DT_FLOAT", [-1, 3])}),
    }
    for name, (inputs, outputs) in expected.items():
        default = signature_defs(repo / name / "1")["serving_default"]
        assert {k: (v["dtype"], v["shape"]) for k, v in default["inputs"].items()} == inputs, name
        assert {k: (v["dtype"], v["shape"]) for k, v in default["outputs"].items()} == outputs, name
    assert set(signature_defs(repo / "flowers" / "1")) == {"serving_default", "classify"}
    assert set(signature_defs(repo / "two" / "1")) == {"serving_default"}


def _json_value(value: np.ndarray):
    return (
        [[v.decode() if isinstance(v, bytes) else v for v in row] for row in value.tolist()]
        if value.dtype == object
        else value.tolist()
    )


@pytest.mark.parametrize("name", list(CASES))
def test_rest_and_grpc_answer_what_the_in_process_model_answers(exported, server, name):
    repo, keras_models = exported
    inputs = CASES[name]()
    expected = in_process(keras_models[name], inputs)

    reply = requests.post(
        f"{server.rest_url}/v1/models/{name}:predict",
        json={"inputs": {k: _json_value(v) for k, v in inputs.items()}},
        timeout=120,
    )
    assert reply.status_code == 200, reply.text
    outputs = reply.json()["outputs"]
    outputs = outputs if isinstance(outputs, dict) else {next(iter(expected)): outputs}

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    with grpc.insecure_channel(server.grpc_address) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=120)

    for key, want in expected.items():
        assert_same_computation(np.asarray(outputs[key], np.float32), want, err_msg=key)
        assert_same_computation(tf.make_ndarray(response.outputs[key]), want, err_msg=key)


def test_labels_give_top_k_and_the_classify_api(exported, server):
    repo, keras_models = exported
    features = CASES["flowers"]()
    probabilities = in_process(keras_models["flowers"], {"features": features["features"]})["probabilities"]
    top2 = np.argsort(-probabilities, axis=1)[:, :2]
    reply = requests.post(
        f"{server.rest_url}/v1/models/flowers:predict", json={"instances": features["features"].tolist()}, timeout=120
    ).json()["predictions"]
    assert [row["class_ids"] for row in reply] == top2.tolist()
    assert [row["class_names"] for row in reply] == [[LABELS[i] for i in ids] for ids in top2]
    examples = [{"features": row} for row in features["features"].tolist()]
    classify = requests.post(
        f"{server.rest_url}/v1/models/flowers:classify",
        json={"signature_name": "classify", "examples": examples},
        timeout=120,
    )
    assert classify.status_code == 200, classify.text
    results = classify.json()["results"]
    assert [[label for label, _ in row] for row in results] == [[LABELS[i] for i in ids] for ids in top2]
    assert_same_computation(
        [[score for _, score in row] for row in results], np.take_along_axis(probabilities, top2, axis=1)
    )
    assert (repo / "flowers" / "1" / "assets" / "labels.txt").read_text().splitlines() == LABELS


def test_export_info_records_specs_source_hash_and_parameters(exported, tmp_path):
    repo, keras_models = exported
    info = read_export_info(repo / "two" / "1")
    assert info["model"] == "keras" and info["keras_class"] == "Functional"
    assert info["inputs"] == {
        "age": {"dtype": "float32", "shape": [-1, 3]},
        "history": {"dtype": "float32", "shape": [-1, 5, 2]},
    }
    assert info["outputs"] == {
        "price": {"dtype": "float32", "shape": [-1, 1]},
        "category": {"dtype": "float32", "shape": [-1, 4]},
    }
    source = info["source"]
    assert source["kind"] == "keras" and source["file"].endswith("two.keras")
    assert source["sha256"] == hashlib.sha256(Path(source["file"]).read_bytes()).hexdigest()
    assert info["parameters"]["total"] == keras_models["two"].count_params()
    assert read_export_info(repo / "legacy" / "1")["source"]["kind"] == "h5"
    subclassed = read_export_info(repo / "subclassed" / "1")["source"]
    assert subclassed["kind"] == "function" and subclassed["file"].endswith("models.py")
    assert read_export_info(repo / "text" / "1")["examples"] == "drawn from the input specs"


def test_examples_file_feeds_verification_and_warmup_and_atol_is_recorded(tmp_path):
    models.two_in_two_out().save(tmp_path / "two.keras")
    examples = rng_inputs(20, age=(3, 3), history=(3, 5, 2))
    np.savez(tmp_path / "examples.npz", **examples)
    assert (
        main(
            [
                "keras",
                str(tmp_path / "two.keras"),
                "--examples",
                str(tmp_path / "examples.npz"),
                "--atol",
                "1e-6",
                "--models-dir",
                str(tmp_path / "models"),
            ]
        )
        == 0
    )
    version = tmp_path / "models" / "two" / "1"
    (log,) = read_warmup_requests(version / "assets.extra" / "tf_serving_warmup_requests")
    request = log.predict_log.request
    for key, value in examples.items():
        np.testing.assert_array_equal(tf.make_ndarray(request.inputs[key]), value[:1])
    info = read_export_info(version)
    assert info["examples"] == "given" and info["atol"] == 1e-6

    np.savez(tmp_path / "wrong.npz", age=examples["age"])
    assert (
        main(
            [
                "keras",
                str(tmp_path / "two.keras"),
                "--examples",
                str(tmp_path / "wrong.npz"),
                "--models-dir",
                str(tmp_path / "models"),
            ]
        )
        == 2
    )
    assert main(["keras", str(tmp_path / "two.keras"), "--atol", "-1", "--models-dir", str(tmp_path / "models")]) == 2


def test_image_input_takes_encoded_bytes_within_the_pixel_limit(tmp_path):
    models.image_classifier().save(tmp_path / "cats.keras")
    assert (
        main(
            [
                "keras",
                str(tmp_path / "cats.keras"),
                "--image-input",
                "image",
                "--image-normalize",
                "unit",
                "--labels",
                str(_labels(tmp_path)),
                "--max-image-pixels",
                "300000",
                "--models-dir",
                str(tmp_path / "models"),
            ]
        )
        == 0
    )
    version = tmp_path / "models" / "cats" / "1"
    assert set(signature_defs(version)) == {"serving_default", "predict_images", "classify"}
    assert read_export_info(version)["max_image_pixels"] == 300_000
    loaded = tf.saved_model.load(str(version))
    photo = sample_picture()
    got = loaded.signatures["predict_images"](image=tf.constant([photo]))
    pixels = normalize(center_crop_and_resize(decode_rgb(photo), (32, 32)), "unit")[tf.newaxis]
    expected = keras.saving.load_model(tmp_path / "cats.keras")(pixels, training=False)
    assert_same_computation(got["probabilities"], expected)
    example = tf.train.Example(
        features=tf.train.Features(feature={"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[photo]))})
    ).SerializeToString()
    classified = loaded.signatures["classify"](inputs=tf.constant([example]))
    assert_same_computation(classified["scores"], got["scores"])
    for bomb in (png_bomb(), png_bomb(600, 600)):  # 400 MP, and 360,000 pixels over this export's limit
        with pytest.raises(tf.errors.InvalidArgumentError, match="image too large"):
            loaded.signatures["predict_images"](image=tf.constant([bomb]))


def _labels(directory: Path) -> Path:
    path = directory / "labels.txt"
    path.write_text("".join(f"{label}\n" for label in LABELS))
    return path


def test_python_api_with_a_custom_endpoint(tmp_path):
    model = models.sequential()
    hidden = keras.Model(model.inputs, model.layers[0].output)
    embed = Endpoint(
        "embed",
        lambda features: {"embedding": hidden(features, training=False)},
        [tf.TensorSpec([None, 4], tf.float32, name="features")],
    )
    version = export_model(model, tmp_path / "models", "iris", labels=LABELS, top_k=3, endpoints=[embed])
    assert version == tmp_path / "models" / "iris" / "1"
    assert set(signature_defs(version)) == {"serving_default", "classify", "embed"}
    loaded = tf.saved_model.load(str(version))
    features = CASES["flowers"]()["features"]
    assert_same_computation(loaded.signatures["embed"](features=tf.constant(features))["embedding"], hidden(features))
    out = loaded.signatures["serving_default"](features=tf.constant(features))
    assert_same_computation(out["probabilities"], model(features))
    assert out["class_names"].shape == (3, 3)
    assert (version / "assets" / "labels.txt").read_text().splitlines() == LABELS
    with pytest.raises(ExportError, match="version 1 already exists"):
        export_model(model, tmp_path / "models", "iris", version=1)
    with pytest.raises(ExportError, match="--name must be a plain model name"):
        export_model(model, tmp_path / "models", "../iris")


CUSTOM_LAYERS = """
import keras


@keras.saving.register_keras_serializable(package="users")
class Tripling(keras.layers.Layer):
    def call(self, x):
        return 3.0 * x


def build():
    x = keras.Input((4,), name="x")
    return keras.Model(x, Tripling(name="tripled")(x))


if __name__ == "__main__":
    build().save("custom.keras")
"""


def test_bad_files_are_one_line_errors_with_exit_2_and_nothing_written(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "custom_layers.py").write_text(CUSTOM_LAYERS)
    subprocess.run([sys.executable, "custom_layers.py"], cwd=code, check=True, capture_output=True, timeout=300)
    (tmp_path / "notes.keras").write_text("not a model")
    (tmp_path / "weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    models.sequential().save(tmp_path / "flowers.keras")
    with zipfile.ZipFile(tmp_path / "bomb.keras", "w", zipfile.ZIP_DEFLATED) as bomb:  # 200 KB -> a 200 MB config
        with bomb.open("config.json", "w", force_zip64=True) as config:
            for _ in range(200):
                config.write(b" " * (1 << 20))
    (tmp_path / "models" / "flowers" / "1").mkdir(parents=True)
    cases = [
        (["notes.keras"], "notes.keras is not a .keras model file (not a zip archive written by model.save)"),
        (["weights.h5"], "weights.h5 is not a Keras model file Keras can load"),
        (
            ["bomb.keras"],
            "bomb.keras is not a .keras archive written by model.save: its member config.json inflates to "
            f"{200 << 20} bytes, more than {64 << 20} bytes",
        ),
        (
            [str(code / "custom.keras")],
            "uses the custom class 'Tripling', whose code is not importable here: "
            "build the model in code and pass module:function",
        ),
        (["flowers.keras", "--version", "1"], "version 1 already exists"),
        (["missing.keras"], "model file not found: missing.keras"),
        (["custom_layers:build"], "cannot import 'custom_layers' for custom_layers:build"),
    ]
    for args, message in cases:
        result = run_cli("keras", *args, "--models-dir", "models", cwd=tmp_path)
        ours = messages(result.stderr)  # progress apart, one line: no TensorFlow start-up chatter either
        assert result.returncode == 2 and len(ours) == 1 and message in ours[0], (args, result.stderr[-2000:])
        assert result.stdout == ""
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "models").rglob("*")) == [
        "models/flowers",
        "models/flowers/1",
    ]
    # The way for custom layers: the code that builds the model.
    result = run_cli("keras", "custom_layers:build", "--models-dir", str(tmp_path / "models"), cwd=code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str(tmp_path / "models" / "build" / "1")
