"""The real v2 clients users have (tritonclient.http, tritonclient.grpc, the kserve SDK's REST and gRPC
clients), unchanged, against `python -m serving`: health, metadata and inference for every kind of model
(tiny test models, the three exported models: image bytes, float tensors, multi-input, string and PNG
outputs; and a user's own Keras model), each answer equal to what TF Serving's API answers for the same
inputs.

The clients run in their own venv (tests/fixtures/venvs.py) as the scripts in v2_clients/: one process
per client and server, with the calls of a job file.

One limit is the kserve SDK's, not the server's: its REST client turns every binary output back into JSON
data and so cannot take BYTES that are not UTF-8 (PNG images, arbitrary bytes) from any server; with it,
such outputs are left out of the request (its gRPC client and tritonclient take them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clients.tfs_grpc import GrpcClient
from serving.testing.server_process import ServerProcess, model_config_text
from tests.fixtures.pictures import sample_picture
from tests.fixtures.venvs import run_in

pytestmark = pytest.mark.slow

SCRIPTS = Path(__file__).with_name("v2_clients")
CLIENTS = ("triton_http", "triton_grpc", "kserve_rest", "kserve_grpc")
REST_CLIENTS = ("triton_http", "kserve_rest")


def run_job(python: Path, client: str, server, calls: list[dict], tmp_path: Path) -> tuple[list[dict], dict]:
    """Runs `calls` (model, inputs as arrays, version, outputs, signature, binary) with one client script;
    returns each call's outputs and what the client saw of health and metadata."""
    arrays, described = {}, []
    for i, call in enumerate(calls):
        names = {}
        for name, array in call["inputs"].items():
            arrays[f"{i}-{name}"] = array
            names[name] = f"{i}-{name}"
        described.append({**{k: v for k, v in call.items() if k != "inputs"}, "inputs": names})
    work = tmp_path / client
    work.mkdir(exist_ok=True)
    np.savez(work / "inputs.npz", **arrays)
    url = server.rest_url.removeprefix("http://") if client in REST_CLIENTS else server.grpc_address
    job = {"url": url, "calls": described, "inputs_file": str(work / "inputs.npz"), "out": str(work / "out.npz")}
    (work / "job.json").write_text(json.dumps(job))
    run = run_in(python, [str(SCRIPTS / f"{client}.py"), str(work / "job.json")], timeout=900, cwd=SCRIPTS)
    assert run.returncode == 0, run.stderr[-4000:]
    answers: list[dict] = [{} for _ in calls]
    with np.load(work / "out.npz", allow_pickle=True) as out:
        for key in out.files:
            index, name = key.split("/", 1)
            answers[int(index)][name] = out[key]
    return answers, json.loads(run.stdout.strip().splitlines()[-1])


def tfs_answer(server, call: dict) -> dict[str, np.ndarray]:
    """What TF Serving's gRPC API answers for the same call."""
    with GrpcClient(server.grpc_address, timeout=600) as client:
        return client.predict(
            call["model"],
            call["inputs"],
            signature=call.get("signature") or "serving_default",
            version=int(call["version"]) if call.get("version") else None,
            output_filter=call.get("outputs") or None,
        )


def assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray], what: str) -> None:
    assert sorted(got) == sorted(expected), what
    for name, value in expected.items():
        answer = got[name]
        assert answer.shape == value.shape, f"{what} {name}"
        if value.dtype == object:
            text = [v if isinstance(v, bytes) else str(v).encode() for v in answer.reshape(-1)]
            assert text == list(value.reshape(-1)), f"{what} {name}"
        elif value.dtype.kind == "f":
            np.testing.assert_allclose(answer.astype(value.dtype), value, rtol=1e-6, atol=0, err_msg=f"{what} {name}")
        else:
            assert answer.astype(value.dtype).tolist() == value.tolist(), f"{what} {name}"


def check_client(python, client, server, calls, tmp_path) -> dict:
    """Every call through `client` answers what TF Serving's API does; returns what the client saw."""
    if client == "kserve_rest":  # no model version in its REST client's URL, no non-UTF-8 BYTES outputs
        calls = [c for c in calls if not c.get("version") and not c.get("raw_bytes_out")]
        calls = [{**c, "outputs": c["utf8_outputs"]} if "utf8_outputs" in c else c for c in calls]
    answers, seen = run_job(python, client, server, calls, tmp_path)
    for call, answer in zip(calls, answers):
        assert_same(answer, tfs_answer(server, call), f"{client} {call['model']} {call.get('signature', '')}")
    assert seen["live"] and seen["ready"]
    assert all(model["ready"] for model in seen["models"].values())
    return seen


# ------------------------------------------------------------------------------ tiny models


def tiny_calls() -> list[dict]:
    x = np.linspace(-2, 2, 5, dtype=np.float32)
    return [
        {"model": "half_plus_two", "inputs": {"x": x}},
        {"model": "half_plus_two", "inputs": {"x": x}, "version": "1", "binary": False},
        {
            "model": "multi_io",
            "inputs": {"a": np.stack([x, x * 2], 1), "b": np.arange(5)},
            "outputs": ["total", "flag"],
        },
        {
            "model": "strings",
            "inputs": {"text": np.array([b"\xff\xd8\xff jpeg", b"", "caf\u00e9".encode()], dtype=object)},
            "utf8_outputs": ["length"],
        },
        {"model": "float16", "inputs": {"h": np.array([0.5, -2.0, 1024.0], np.float16)}},
    ]


@pytest.mark.parametrize("client", CLIENTS)
def test_tiny_models(third_party_python, server, client, tmp_path):
    seen = check_client(third_party_python, client, server, tiny_calls(), tmp_path)
    if client.startswith("triton"):
        metadata = seen["models"]["multi_io"]["metadata"]
        assert [(t["name"], t["datatype"], [int(d) for d in t["shape"]]) for t in metadata["inputs"]] == [
            ("a", "FP32", [-1, 2]),
            ("b", "INT64", [-1]),
        ]
        assert {"binary_tensor_data", "model_repository"} <= set(seen["extensions"])
        assert {"half_plus_two", "multi_io", "strings"} <= set(seen["repository"])


# ------------------------------------------------------------------------------ the exported models


def exported_calls() -> list[dict]:
    jpeg = np.array([sample_picture("china.jpg")], dtype=object)
    pixels = np.random.default_rng(3).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    return [
        {"model": "efficientnet", "inputs": {"images": jpeg}},  # image bytes in, top-k names and scores out
        {"model": "efficientnet", "inputs": {"pixels": pixels}, "signature": "predict_pixels"},  # float tensors
        {"model": "efficientnet", "inputs": {"pixels": pixels}, "signature": "predict_pixels", "binary": False},
        {
            "model": "detr",  # several inputs, string outputs
            "inputs": {
                "images": jpeg,
                "score_threshold": np.full(1, 0.0, np.float32),
                "max_detections": np.full(1, 5, np.int32),
            },
            "signature": "detect_with_threshold",
        },
        {
            "model": "stylegan",  # PNG outputs
            "inputs": {"seeds": np.array([1, 7], np.int64), "truncation_psi": np.full(2, 0.7, np.float32)},
            "signature": "generate_png",
            "raw_bytes_out": True,
        },
    ]


@pytest.mark.parametrize("client", CLIENTS)
def test_exported_models(third_party_python, models_server, client, tmp_path):
    calls = exported_calls()
    if client == "kserve_rest":  # the kserve SDK sends JSON data as Python lists: leave the big tensor binary
        calls = [c for c in calls if c.get("binary", True)]
    check_client(third_party_python, client, models_server, calls, tmp_path)


# ------------------------------------------------------------------------------ a user's own model


@pytest.fixture(scope="module")
def own_model_server(tmp_path_factory):
    """A user's own Keras model (two inputs, two outputs), exported with `python -m export keras`."""
    from export.cli import main

    repo = tmp_path_factory.mktemp("own-model")
    assert (
        main(["keras", "tests.export.keras_model.models:two_in_two_out", "--name", "mine", "--models-dir", str(repo)])
        == 0
    )
    config = repo / "models.config"
    config.write_text(model_config_text([{"name": "mine", "base_path": repo / "mine"}]))
    with ServerProcess(model_config_file=config) as server:
        yield server


@pytest.mark.parametrize("client", CLIENTS)
def test_a_users_own_model(third_party_python, own_model_server, client, tmp_path):
    rng = np.random.default_rng(5)
    inputs = {
        "age": rng.normal(size=(3, 3)).astype(np.float32),
        "history": rng.normal(size=(3, 5, 2)).astype(np.float32),
    }
    check_client(third_party_python, client, own_model_server, [{"model": "mine", "inputs": inputs}], tmp_path)
